#!/usr/bin/env bash
# Security audit by inspection of the built artefacts, plus the UAPI socket permissions:
#   1. the library never changes process-wide state: libwgtun.so imports none of the calls
#      that would (signal handlers and masks, umask, rlimits, cwd/root, environment, locale,
#      exit handlers, fork/daemon/exit, uid/gid/session, stdio/printing, global RNG, prctl);
#      pthread_sigmask is allowed: it changes only the calling thread's mask, and the library
#      uses it around pthread_create (restored at once) so its own threads take no signals;
#   2. it exports only wgtun_* symbols;
#   3. the UAPI socket directory and socket have the modes wireguard-go gives them (both
#      daemons run side by side here and are compared: dir 755, socket 700, owned by root).
BAT_NAME=audit
source "$(dirname "$0")/lib.sh"

lib=$BUILD/libwgtun.so
[ -f "$lib" ] || fail "no $lib"
forbidden='signal|sigaction|sigprocmask|signalfd|sigaltstack|raise|kill|alarm|umask|setrlimit|prlimit|prlimit64|chdir|fchdir|chroot|setenv|putenv|unsetenv|clearenv|setlocale|atexit|on_exit|__cxa_atexit|fork|vfork|daemon|exit|_exit|abort|setuid|setgid|seteuid|setegid|setreuid|setregid|setresuid|setresgid|setgroups|setsid|setpgid|dup2|dup3|freopen|setvbuf|setbuf|printf|fprintf|vprintf|vfprintf|puts|fputs|putchar|perror|fwrite|srand|rand|srandom|random|prctl|personality|mallopt|sched_setaffinity|mlockall|munlockall|sigsetjmp|siglongjmp'
imports=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//' | sort -u)
bad=$(grep -Ex "($forbidden)" <<<"$imports" || true)
[ -z "$bad" ] || fail "libwgtun.so imports process-wide calls: $(tr '\n' ' ' <<<"$bad")"
nimp=$(wc -l <<<"$imports")
exports=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sed 's/@.*//' | sort -u)
badexp=$(grep -Ev '^(wgtun_|_init$|_fini$|_edata$|_end$|__bss_start$)' <<<"$exports" || true)
[ -z "$badexp" ] || fail "non-wgtun exports: $(tr '\n' ' ' <<<"$badexp")"
nexp=$(grep -c '^wgtun_' <<<"$exports")

# 3. socket permissions next to wireguard-go
command -v wireguard-go >/dev/null || fail "wireguard-go missing (scripts/deps.sh installs it)"
ip netns add "$NS_A"
bat_daemon "$NS_A" "$IF_A" "$T/daemonA.log"; PID_A=$DAEMON_PID
ip netns exec "$NS_A" env WG_PROCESS_FOREGROUND=1 wireguard-go "$IF_B" >"$T/wggo.log" 2>&1 &
BAT_PIDS+=("$!")
for _ in $(seq 100); do [ -S "/var/run/wireguard/$IF_B.sock" ] && break; sleep 0.1; done
[ -S "/var/run/wireguard/$IF_B.sock" ] || fail "wireguard-go made no socket"
ours=$(stat -c '%a %U:%G %F' "/var/run/wireguard/$IF_A.sock")
theirs=$(stat -c '%a %U:%G %F' "/var/run/wireguard/$IF_B.sock")
dir=$(stat -c '%a %U:%G' /var/run/wireguard)
[ "$ours" = "$theirs" ] || fail "socket: wgtun '$ours', wireguard-go '$theirs'"
[ "${ours%% *}" = 700 ] || fail "socket mode $ours"
[ "$dir" = "755 root:root" ] || fail "socket directory: $dir (wireguard-go makes it 755)"
# with a permissive umask too: the library must not depend on (or change) it
rm -f "/var/run/wireguard/$IF_A.sock"
wait "$PID_A" 2>/dev/null || true
(umask 000; bat_daemon "$NS_A" "$IF_A" "$T/daemonA2.log"; echo "$DAEMON_PID" >"$T/pid2")
BAT_PIDS+=("$(cat "$T/pid2")")
ours2=$(stat -c '%a' "/var/run/wireguard/$IF_A.sock")
[ "$ours2" = 700 ] || fail "socket mode $ours2 under umask 000"
result "libwgtun.so: $nimp imports, none process-wide; $nexp exports, all wgtun_*;" \
  "UAPI socket '$ours' == wireguard-go '$theirs' (also 700 under umask 000); dir $dir"
