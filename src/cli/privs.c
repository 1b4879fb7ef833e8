/* serve --user: bind as root, then run as an ordinary user with no way back. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"

int cli_user_lookup(const char *name, struct cli_user *u)
{
	struct passwd *pw;
	char *end;

	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		unsigned long id = strtoul(name, &end, 10);

		/* A number that names no account is taken as it is, as chown(1) does. */
		if (!*name || *end || id >= (uid_t)-1)
			return cli_usage_error("unknown user '%s'", name), -1;
		*u = (struct cli_user){ .uid = (uid_t)id, .gid = (gid_t)id };
		snprintf(u->name, sizeof(u->name), "%lu", id);
		return 0;
	}
	*u = (struct cli_user){ .uid = pw->pw_uid, .gid = pw->pw_gid };
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	return 0;
}

/* The highest capability number this kernel knows. */
static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	int n = 63;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 63;
		fclose(f);
	}
	return n;
}

int cli_drop_privileges(const struct cli_user *u)
{
	gid_t *groups = NULL;
	int ngroups = 0, rc;

	/* The first call says how many groups there are. */
	if (getgrouplist(u->name, u->gid, NULL, &ngroups) < 0 && ngroups > 0 &&
	    (groups = calloc((size_t)ngroups, sizeof(*groups))) &&
	    getgrouplist(u->name, u->gid, groups, &ngroups) >= 0) {
		rc = setgroups((size_t)ngroups, groups);
	} else {
		rc = setgroups(1, &u->gid);
	}
	free(groups);
	if (rc < 0)
		return cli_warn("--user %s: setgroups: %s", u->name, strerror(errno)), -1;
	/* The bounding set too, so that no capability can come back through exec either. */
	for (int cap = 0; cap <= last_cap(); cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return cli_warn("--user: dropping capability %d: %s", cap, strerror(errno)), -1;
	if (setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0)
		return cli_warn("--user %s: %s", u->name, strerror(errno)), -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return cli_warn("--user: no_new_privs: %s", strerror(errno)), -1;
	/* Trust, but verify: the way back must be closed. */
	if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return cli_warn("--user %s: root could be regained; stopping", u->name), -1;
	return 0;
}
