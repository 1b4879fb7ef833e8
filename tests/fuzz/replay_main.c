/*
 * Replays a fuzz target's corpus with the ordinary compiler, so `make check`
 * runs every seed input through the parser (under ASan+UBSan with SANITIZE=1).
 *   fuzz_X_replay FILE|DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	/* An exact-size copy: reading one byte past the input trips AddressSanitizer. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int inputs = 0, errors = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			errors += run_file(argv[i]) < 0;
			inputs++;
			continue;
		}
		d = opendir(argv[i]);
		while (d && (e = readdir(d))) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			errors += run_file(path) < 0;
			inputs++;
		}
		if (d)
			closedir(d);
	}
	printf("%s: %d inputs replayed, %d unreadable\n", argv[0], inputs, errors);
	return errors || inputs == 0 ? 1 : 0;
}
