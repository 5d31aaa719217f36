/* test_log.c — the logger's line formats: text, logfmt and json, the call
 * id moved into its own field, a call's detail line as an object, escapes
 * (quotes, control characters, bytes that are not UTF-8), long lines whole. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"

/* One sw_log call's output: stderr goes to a temporary file meanwhile
 * (criterion runs each test in a process of its own). */
static char *logged(enum sipwire_log_format format, const char *subsys, const char *text)
{
	FILE *tmp = tmpfile();
	cr_assert_not_null(tmp);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	sw_log_set_format(format);
	sw_log(SIPWIRE_LOG_INFO, subsys, "%s", text);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	long n = ftell(tmp);
	cr_assert_gt(n, 0);
	char *out = calloc(1, (size_t)n + 1);
	rewind(tmp);
	cr_assert_eq(fread(out, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return out;
}

/* The line after its time stamp (which changes). */
static const char *after_time(const char *line, const char *time_end)
{
	const char *p = strstr(line, time_end);
	cr_assert_not_null(p, "%s", line);
	return p + strlen(time_end);
}

Test(log, text_is_unchanged)
{
	char *l = logged(SIPWIRE_LOG_TEXT, "call", "c1f: answered");
	/* 2026-11-24T15:40:01.123Z INFO  [call] c1f: answered */
	cr_assert_eq(strlen(l), 25 + strlen("INFO  [call] c1f: answered\n"), "%s", l);
	cr_assert_str_eq(l + 25, "INFO  [call] c1f: answered\n");
	cr_assert_eq(l[10], 'T');
	cr_assert_eq(l[23], 'Z');
	free(l);
}

Test(log, json_moves_the_call_id_into_its_field)
{
	char *l = logged(SIPWIRE_LOG_JSON, "call", "c1f: INVITE sip:echo@gw");
	cr_assert_eq(strncmp(l, "{\"time\":\"", 9), 0, "%s", l);
	cr_assert_str_eq(after_time(l, "Z\""),
	                 ",\"level\":\"info\",\"subsys\":\"call\",\"call\":\"c1f\","
	                 "\"msg\":\"INVITE sip:echo@gw\"}\n");
	free(l);
}

Test(log, json_without_a_call)
{
	char *l = logged(SIPWIRE_LOG_JSON, "ws", "listening for WS on 127.0.0.1:8080");
	cr_assert_str_eq(after_time(l, "Z\""), ",\"level\":\"info\",\"subsys\":\"ws\","
	                                       "\"msg\":\"listening for WS on 127.0.0.1:8080\"}\n");
	/* only the subsystems that speak of calls have call ids */
	free(l);
	l = logged(SIPWIRE_LOG_JSON, "daemon", "cafe: not a call");
	cr_assert_not_null(strstr(l, "\"msg\":\"cafe: not a call\""), "%s", l);
	free(l);
	l = logged(SIPWIRE_LOG_JSON, "media", "c9: webrtc: ICE connected");
	cr_assert_not_null(strstr(l, "\"call\":\"c9\",\"msg\":\"webrtc: ICE connected\""), "%s", l);
	free(l);
}

Test(log, json_detail_line_is_an_object)
{
	char *l = logged(SIPWIRE_LOG_JSON, "cdr", "{\"call\":\"c2a\",\"end_reason\":\"bye\"}");
	cr_assert_str_eq(after_time(l, "Z\""), ",\"level\":\"info\",\"subsys\":\"cdr\",\"call\":\"c2a\","
	                                       "\"cdr\":{\"call\":\"c2a\",\"end_reason\":\"bye\"}}\n");
	free(l);
}

Test(log, logfmt_quotes_and_escapes_the_message)
{
	char *l = logged(SIPWIRE_LOG_LOGFMT, "registrar",
	                 "authentication failed for user 'a\"b' \\ x\r\ny\tz\x01");
	cr_assert_eq(strncmp(l, "time=", 5), 0, "%s", l);
	cr_assert_str_eq(after_time(l, "Z"),
	                 " level=info subsys=registrar msg=\"authentication failed for user "
	                 "'a\\\"b' \\\\ x\\r\\ny\\tz\\u0001\"\n");
	free(l);
}

Test(log, bytes_that_are_not_utf8_become_replacement_characters)
{
	/* é (two bytes), € (three), a lone continuation byte, a cut sequence,
	 * an overlong '/', a surrogate */
	char *l = logged(SIPWIRE_LOG_JSON, "sip",
	                 "user \xc3\xa9\xe2\x82\xac \x80 \xe2\x82 \xc0\xaf \xed\xa0\x80!");
	cr_assert_not_null(strstr(l, "\"msg\":\"user \xc3\xa9\xe2\x82\xac \\ufffd \\ufffd\\ufffd "
	                             "\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd!\"}"),
	                   "%s", l);
	free(l);
}

Test(log, a_long_line_is_written_whole)
{
	size_t n = 5000;
	char *text = malloc(n + 1);
	memset(text, 'x', n);
	memcpy(text, "c3: ", 4);
	text[n] = 0;
	for (int f = SIPWIRE_LOG_TEXT; f <= SIPWIRE_LOG_JSON; f++) {
		char *l = logged((enum sipwire_log_format)f, "call", text);
		cr_assert_not_null(strstr(l, text + 4), "format %d", f);
		cr_assert_eq(l[strlen(l) - 1], '\n');
		cr_assert_eq(strchr(l, '\n'), l + strlen(l) - 1, "one line");
		free(l);
	}
	free(text);
}
