/* test_log.c — the daemon's logger writes every line whole, however long. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"

/* stderr goes to a file for the test; returns what was written. */
static char *capture(void (*write_lines)(void))
{
	char path[] = "/tmp/sipwire-test-log-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	write_lines();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	off_t size = lseek(fd, 0, SEEK_END);
	char *text = calloc(1, (size_t)size + 1);
	cr_assert(pread(fd, text, (size_t)size, 0) == size);
	close(fd);
	unlink(path);
	return text;
}

static char long_value[5000];

static void write_long(void)
{
	memset(long_value, 'x', sizeof long_value - 2);
	long_value[sizeof long_value - 2] = '}';
	sw_log_set_level(SIPWIRE_LOG_INFO);
	LOG_INFO("cdr", "{%s", long_value);
	LOG_INFO("cdr", "short %d", 7);
}

Test(log, a_line_longer_than_the_buffer_is_written_whole)
{
	char *text = capture(write_long);
	char *first = strstr(text, "INFO  [cdr] {");
	cr_assert_not_null(first, "%s", text);
	char *end = strchr(first, '\n');
	cr_assert_not_null(end);
	/* "{" + the value, ending in its "}", then the newline */
	cr_assert_eq((size_t)(end - first), strlen("INFO  [cdr] {") + strlen(long_value));
	cr_assert_eq(end[-1], '}');
	cr_assert_not_null(strstr(end + 1, "INFO  [cdr] short 7\n"), "%s", end + 1);
	free(text);
}
