#!/bin/sh
# Derives the malformed /proc/net samples in tests/data/proc/ from the recorded
# ones in proc/good/ (see record.sh).  Each bad-* directory is a ROOT for
# pscope_diag_proc(): one file whose header and first socket line are good,
# then one bad line; the other files are missing, so they are skipped.
#   sh tests/data/mkproc.sh
set -eu
cd "$(dirname "$0")/proc"

hdr4=$(sed -n 1p good/tcp)
line4=$(sed -n 2p good/tcp)   # the IPv4 listener, state 0A
hdr6=$(sed -n 1p good/tcp6)
line6=$(sed -n 2p good/tcp6)  # the IPv6 listener on ::1
hdru=$(sed -n 1p good/udp)
lineu=$(sed -n 2p good/udp)

# mk DIR FILE LINE...: writes the lines, each with its newline.
mk() {
	dir=$1 file=$2
	shift 2
	mkdir -p "$dir"
	printf '%s\n' "$@" >"$dir/$file"
}

rm -rf bad-* tcp6-only
mkdir tcp6-only
cp good/tcp6 tcp6-only/tcp6

mk bad-truncated tcp "$hdr4" "$line4" "$(printf '%s' "$line4" | cut -c1-30)"
mk bad-long tcp "$hdr4" "$line4" "$(printf '%s' "$line4" | awk '{ printf "%-600s", $0 }')"
mk bad-nonhex tcp6 "$hdr6" "$line6" "$(printf '%s' "$line6" | sed 's/01000000:/0G000000:/')"
mk bad-noinode tcp "$hdr4" "$line4" "$(printf '%s' "$line4" | awk '{ print $1, $2, $3, $4, $5, $6, $7, $8, $9 }')"
mk bad-state00 tcp "$hdr4" "$line4" "$(printf '%s' "$line4" | sed 's/ 0A / 00 /')"
mk bad-state0d tcp "$hdr4" "$line4" "$(printf '%s' "$line4" | sed 's/ 0A / 0D /')"
mkdir -p bad-nonewline
printf '%s\n%s\n%s' "$hdru" "$lineu" "$lineu" >bad-nonewline/udp
