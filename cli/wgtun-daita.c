/* wgtun-daita: tools for Maybenot (DAITA) machine strings.
 *   wgtun-daita inspect STRING...   one JSON line per string (canonical JSON or
 *                                   {"error": "<reason>"}); "-" reads one string per line
 *                                   from standard input.
 * Exit: 0 all strings valid, 1 some rejected (or output failed), 2 bad usage. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daita/machine.h"

static void usage(FILE *f)
{
	fputs("usage: wgtun-daita inspect STRING...\n"
	      "       wgtun-daita inspect -          (one machine string per line on stdin)\n"
	      "       wgtun-daita --help\n"
	      "\n"
	      "inspect parses each Maybenot v2 machine string and prints one line of JSON per\n"
	      "string, in order: the machine in canonical form, or {\"error\": \"<reason>\"}.\n"
	      "Exit status: 0 if every string is valid, 1 if any is rejected, 2 on bad usage.\n",
	      f);
}

/* Prints {"error": "<reason>"} with the reason JSON-escaped. */
static void print_error(const char *reason)
{
	fputs("{\"error\": \"", stdout);
	for (const unsigned char *p = (const unsigned char *)reason; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	fputs("\"}\n", stdout);
}

/* Returns true if the string was a valid machine. */
static bool inspect_one(const char *s, size_t len)
{
	struct daita_machine m;
	char err[DAITA_ERR_LEN];
	char *json = NULL;
	bool ok = false;

	if (daita_machine_parse(&m, s, len, err)) {
		print_error(err);
		return false;
	}
	if (daita_machine_to_json(&m, &json, NULL)) {
		print_error("json: out of memory");
	} else {
		puts(json);
		ok = true;
	}
	free(json);
	daita_machine_free(&m);
	return ok;
}

/* Reads one line (without its LF / CR LF) into buf, which holds DAITA_MAX_STRING_LEN + 1
 * bytes; the rest of a longer line is skipped and *too_long set, so memory stays bounded
 * whatever stdin holds. Returns false at end of input with nothing read. */
static bool read_line(char *buf, size_t *len, bool *too_long)
{
	size_t n = 0;
	int c;
	bool any = false;

	*too_long = false;
	while ((c = getchar()) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (n < DAITA_MAX_STRING_LEN + 1)
			buf[n++] = (char)c;
		else
			*too_long = true;
	}
	if (n > DAITA_MAX_STRING_LEN)
		*too_long = true;
	if (n && buf[n - 1] == '\r')
		n--;
	*len = n;
	return any;
}

static bool inspect_stdin(void)
{
	char *line = malloc(DAITA_MAX_STRING_LEN + 1);
	size_t len;
	bool all_ok = true, too_long;

	if (!line) {
		fputs("wgtun-daita: out of memory\n", stderr);
		return false;
	}
	while (read_line(line, &len, &too_long)) {
		if (too_long) {
			char msg[64];

			snprintf(msg, sizeof(msg), "string: longer than %u bytes",
				 DAITA_MAX_STRING_LEN);
			print_error(msg);
			all_ok = false;
		} else if (!inspect_one(line, len)) {
			all_ok = false;
		}
	}
	if (ferror(stdin)) {
		fputs("wgtun-daita: error reading standard input\n", stderr);
		all_ok = false;
	}
	free(line);
	return all_ok;
}

int main(int argc, char **argv)
{
	bool all_ok = true, opts_done = false;
	int first = 2, nstrings = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	}
	if (argc < 2 || strcmp(argv[1], "inspect") != 0) {
		if (argc < 2)
			fputs("wgtun-daita: missing command\n", stderr);
		else
			fprintf(stderr, "wgtun-daita: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	/* Check every argument before printing anything, so bad usage gives no output. */
	for (int i = first; i < argc; i++) {
		if (!opts_done && !strcmp(argv[i], "--")) {
			opts_done = true;
			continue;
		}
		if (!opts_done && argv[i][0] == '-' && argv[i][1] != 0) {
			fprintf(stderr, "wgtun-daita: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
		nstrings++;
	}
	if (nstrings == 0) {
		fputs("wgtun-daita: inspect needs at least one machine string (or -)\n", stderr);
		usage(stderr);
		return 2;
	}
	opts_done = false;
	for (int i = first; i < argc; i++) {
		if (!opts_done && !strcmp(argv[i], "--")) {
			opts_done = true;
			continue;
		}
		if (!opts_done && !strcmp(argv[i], "-"))
			all_ok = inspect_stdin() && all_ok;
		else
			all_ok = inspect_one(argv[i], strlen(argv[i])) && all_ok;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fputs("wgtun-daita: error writing standard output\n", stderr);
		return 1;
	}
	return all_ok ? 0 : 1;
}
