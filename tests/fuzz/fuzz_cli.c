/* libFuzzer harness for the daemon's command line and environment (cli/wgtun.c).
 *
 * The daemon's file is compiled in whole with main renamed, so the harness calls its own
 * parse_args / env_fd / copy_name (nothing in cli/ is changed for fuzzing). Its messages to
 * stdout/stderr go to /dev/null through the FILE pointers; sanitizer reports still reach fd 2.
 *
 * Input: NUL-separated tokens. Tokens 0..2 are the values of WG_LOG_LEVEL, LOG_LEVEL and
 * WG_PROCESS_FOREGROUND (an empty token = unset), token 3 the value of WG_TUN_FD (for
 * env_fd; each cut to 64 bytes), the rest are argv[1..] (argv[0] = "wgtun"), at most 64.
 * Invariants (trap): parse_args returns 0, 1 or 2; on 0 there is exactly one operand and it
 * is the interface name, the level is one of the daemon's (silent..verbose); the copied
 * interface name is a NUL-terminated prefix of at most 15 bytes; env_fd gives -2, -1 or the
 * decimal value. */
#define _GNU_SOURCE
#include <stdio.h>

static FILE *fuzz_null;
#undef stdout
#undef stderr
#define stdout fuzz_null
#define stderr fuzz_null
#define printf(...) fprintf(fuzz_null, __VA_ARGS__)

int wgtun_main(int argc, char **argv);
#define main wgtun_main
#include "../../cli/wgtun.c"
#undef main
#undef printf
#undef stdout
#undef stderr

#include <stdint.h>

#include "fuzz_common.h"

#define MAX_ARGS 64

#define ENV_VALUE_MAX 64

/* putenv with our own buffers: setenv would keep every distinct value forever (glibc). */
static void set_env(int k, const char *name, const char *v)
{
	static char bufs[4][32 + ENV_VALUE_MAX + 1];
	size_t n = strlen(name), m = strnlen(v, ENV_VALUE_MAX);

	unsetenv(name);
	if (!*v)
		return;
	memcpy(bufs[k], name, n);
	bufs[k][n] = '=';
	memcpy(bufs[k] + n + 1, v, m);
	bufs[k][n + 1 + m] = '\0';
	putenv(bufs[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const envs[4] = {"WG_LOG_LEVEL", "LOG_LEVEL", "WG_PROCESS_FOREGROUND",
					    "WG_TUN_FD"};
	static char prog[] = "wgtun";
	char *buf, *argv[MAX_ARGS + 2], fdval[ENV_VALUE_MAX + 1];
	const char *tok[4] = {"", "", "", ""};
	char name[16];
	int argc = 1, ntok = 0, r, fd;
	size_t i = 0;
	options o;

	if (!fuzz_null)
		fuzz_null = fopen("/dev/null", "w");
	if (!fuzz_null)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = prog;
	while (i <= size && argc <= MAX_ARGS) {
		char *t = buf + i;
		size_t len = strlen(t);
		if (ntok < 4)
			tok[ntok++] = t;
		else if (i < size)
			argv[argc++] = t;
		i += len + 1;
	}
	argv[argc] = NULL;
	for (int k = 0; k < 4; k++)
		set_env(k, envs[k], tok[k]);

	optind = 0; /* glibc: a full getopt re-initialisation for every input */
	r = parse_args(argc, argv, &o);
	CHECK_OR_TRAP(r == 0 || r == 1 || r == 2);
	if (r == 0) {
		CHECK_OR_TRAP(o.iface && optind == argc - 1 && o.iface == argv[argc - 1]);
		CHECK_OR_TRAP(o.level >= LVL_SILENT && o.level <= LVL_VERBOSE);
		copy_name(name, o.iface);
		CHECK_OR_TRAP(strlen(name) <= 15 && strncmp(name, o.iface, strlen(name)) == 0);
	}
	fd = env_fd("WG_TUN_FD");
	if (!*tok[3])
		CHECK_OR_TRAP(fd == -1);
	else
	{
		snprintf(fdval, sizeof(fdval), "%s", tok[3]); /* what the environment holds */
		CHECK_OR_TRAP(fd == -2 || (fd >= 0 && strtol(fdval, NULL, 10) == fd));
	}
	free(buf);
	return 0;
}
