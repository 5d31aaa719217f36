/* replay_main.c — runs a libFuzzer harness over files without libFuzzer, so
 * the seed corpus and every kept crash input are replayed by ctest in every
 * build. Arguments are files or folders; a missing folder is skipped (a
 * harness may have no kept crashes yet), but at least one input must run. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return -1;
	/* an exact-size copy, so ASan sees a read one past the input */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	unsigned ran = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) == 0)
				ran++;
			else
				failed++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d)
			continue;
		char **names = NULL;
		size_t count = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char **nn = realloc(names, (count + 1) * sizeof(*names));
			if (!nn)
				break;
			names = nn;
			names[count] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
			if (!names[count])
				break;
			sprintf(names[count], "%s/%s", argv[i], e->d_name);
			count++;
		}
		closedir(d);
		if (count > 1)
			qsort(names, count, sizeof(*names), cmp_names);
		for (size_t k = 0; k < count; k++) {
			if (run_file(names[k]) == 0)
				ran++;
			else
				failed++;
			free(names[k]);
		}
		free(names);
	}
	printf("replay: %u inputs ran, %u unreadable\n", ran, failed);
	return (ran > 0 && failed == 0) ? 0 : 1;
}
