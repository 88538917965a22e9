/* battery_tool's shared part: the subcommands (one file each) and the helpers they share. */
#ifndef WGTUN_BATTERY_TOOL_H
#define WGTUN_BATTERY_TOOL_H

#include <stddef.h>
#include <stdint.h>

#define BATCH 64 /* datagrams per sendmmsg */
#define MAX_DGRAM 1500

/* Each takes its arguments (argv after the subcommand name, count checked by main) and
 * returns the exit code. */
int cmd_capture(char **av);
int cmd_garbage(char **av);
int cmd_flood(char **av);
int cmd_churn(char **av);
int cmd_sink(char **av);
int cmd_source(char **av);
int cmd_sessionkeys(char **av);

double now_s(void);
/* xorshift64*: fast, deterministic per seed (a subcommand sets rng_state to seed it). */
extern uint64_t rng_state;
uint64_t rnd(void);
void rnd_fill(uint8_t *p, size_t n);
void hex32(char out[65], const uint8_t h[32]);
/* Prints what failed with errno's text and exits 1. */
_Noreturn void die(const char *what);
/* Host-order IPv4 address; exits 2 on a bad one. */
uint32_t parse_ip(const char *s);
/* One nonblocking UDP socket per source address base, base+1, ..., bound to it. */
int *open_sources(uint32_t base, int n);

#endif
