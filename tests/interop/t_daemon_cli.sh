#!/usr/bin/env bash
# The wgtun daemon's command line and lifecycle, next to wireguard-go's where both should agree:
# flags and exit codes, daemonizing only once the interface and the UAPI socket are ready,
# socket/dir modes, default MTU, process name, environment (WG_TUN_FD, WG_UAPI_FD,
# WG_PROCESS_FOREGROUND, LOG_LEVEL/WG_LOG_LEVEL, -l), and clean exits on SIGTERM, SIGINT,
# interface deletion and socket-file removal. Usage: t_daemon_cli.sh BUILD_DIR (as root).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
set +e # every check is counted (wgi_check) and the test fails at the end, not at the first
wgi_init "${1:?usage: t_daemon_cli.sh BUILD_DIR}"
wgtun=$WGTUN
tmp=$WGI_TMP
sockdir=/var/run/wireguard
# Interface names are ${WGI_TAG}d<x> (the letter keeps one PID's tag from matching another's).
tag=${WGI_TAG}d

# The daemons fork away from us: the cleanup trap finds them by their interface names.
cli_cleanup() {
  local p
  for p in $(daemon_pids); do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in $(daemon_pids); do kill -KILL "$p" 2>/dev/null; done
  rm -f "$sockdir/$tag"*.sock
}
wgi_on_cleanup cli_cleanup

# pids of wgtun / wireguard-go processes whose last argument is one of our interface names
daemon_pids() {
  ps -eo pid=,comm=,args= | awk -v t="$tag" '($2 == "wgtun" || $2 == "wireguard-go" || $2 == "exe") && index($NF, t) == 1 { print $1 }'
}
nsx() { ip netns exec "$ns" "$@"; }
link_exists() { nsx ip link show dev "$1" >/dev/null 2>&1; }
sock_exists() { [ -S "$sockdir/$1.sock" ]; }
gone() { ! link_exists "$1" && ! sock_exists "$1" && [ -z "$(wgi_pid_of "$1")" ]; }
not() { ! "$@"; }

wgi_ns cli || { echo "t_daemon_cli: cannot create netns"; exit 1; }
ns=$WGI_NS

echo "== flags and exit codes (wgtun)"
out=$("$wgtun" --help 2>&1); rc=$?
wgi_check "--help exits 0 with usage" test "$rc" = 0 -a -n "$(grep -E '^Usage: wgtun .*INTERFACE' <<<"$out")"
out=$("$wgtun" --version 2>&1); rc=$?
wgi_check "--version exits 0 with a version" test "$rc" = 0 -a -n "$(grep -E '^wgtun v[0-9]+\.[0-9]+\.[0-9]+' <<<"$out")"
badflag() { # args... : exit 2, exactly one line on stderr, nothing on stdout, nothing created
  local err rc
  err=$(nsx "$wgtun" "$@" 2>&1 >"$tmp/stdout"); rc=$?
  if [ "$rc" = 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && [ -n "$err" ] && [ ! -s "$tmp/stdout" ] &&
     ! link_exists "${tag}b" && ! sock_exists "${tag}b"; then
    wgi_ok "bad usage '$*' -> exit 2, one line: $err"
  else
    wgi_bad "bad usage '$*' -> rc=$rc stderr=[$err]"
  fi
}
badflag --bogus "${tag}b"
badflag -x "${tag}b"
badflag
badflag "${tag}b" extra
badflag -v nonsense "${tag}b"
badflag "${tag}b" -l
badflag --foreground=yes "${tag}b"
out=$(nsx "$wgtun" "${tag}toolongname" 2>&1); rc=$?
wgi_check "too-long interface name fails (rc=$rc): $out" test "$rc" = 1 -a "$(wc -l <<<"$out")" = 1
wgi_check "invalid WG_TUN_FD is refused" bash -c "! WG_TUN_FD=abc ip netns exec $ns $wgtun -f ${tag}b 2>/dev/null"
for v in 1001 -1 abc; do
  wgi_check "WGTUN_BUSY_POLL_US=$v is refused" bash -c "! WGTUN_BUSY_POLL_US=$v timeout 10 ip netns exec $ns $wgtun -f ${tag}b 2>/dev/null"
done

# lifecycle IMPL KIND: start in the background, check readiness and modes, then stop it by KIND
# (term|int|linkdel|sockrm) and check that nothing is left.
lifecycle() {
  local impl=$1 kind=$2 ifc bin pid rc t0 t1 mode
  ifc=$tag${impl:0:1}${kind:0:1}
  if [ "$impl" = wgtun ]; then bin=$wgtun; else bin=wireguard-go; fi
  t0=$(date +%s%N)
  # $(...) as wg-quick would not return if the daemon kept our stdout open
  timeout 10 ip netns exec "$ns" "$bin" "$ifc" >"$tmp/start.out" 2>&1; rc=$?
  t1=$(date +%s%N)
  # no waiting here: wg-quick calls `wg setconf` right after the command returns
  if [ "$rc" = 0 ] && link_exists "$ifc" && sock_exists "$ifc" && nsx wg show "$ifc" >/dev/null 2>&1; then
    wgi_ok "$impl $kind: returns 0 in $(((t1 - t0) / 1000000)) ms with link up and socket answering"
  else
    wgi_bad "$impl $kind: after start rc=$rc link=$(link_exists "$ifc" && echo y) sock=$(sock_exists "$ifc" && echo y): $(cat "$tmp/start.out")"
  fi
  pid=$(wgi_pid_of "$ifc")
  wgi_check "$impl $kind: runs in the background as '$impl' (pid ${pid:-none})" \
    test -n "$pid" -a "$(ps -o comm= -p "${pid:-0}" 2>/dev/null)" = "$impl"
  mode=$(stat -c '%a %U %F' "$sockdir/$ifc.sock" 2>/dev/null)
  wgi_check "$impl $kind: socket mode 700 root socket ($mode)" test "$mode" = "700 root socket"
  mode=$(stat -c '%a %U' "$sockdir")
  wgi_check "$impl $kind: $sockdir mode 755 root ($mode)" test "$mode" = "755 root"
  mode=$(nsx cat "/sys/class/net/$ifc/mtu" 2>/dev/null)
  wgi_check "$impl $kind: default MTU 1420 ($mode)" test "$mode" = 1420
  wgi_check "$impl $kind: a second instance on the same interface fails" \
    bash -c "! timeout 10 ip netns exec $ns $bin $ifc >/dev/null 2>&1"
  wgi_check "$impl $kind: the first instance still answers" bash -c "ip netns exec $ns wg show $ifc >/dev/null 2>&1"
  case $kind in
    term) kill -TERM "$pid" ;;
    int) kill -INT "$pid" ;;
    linkdel) nsx ip link del dev "$ifc" ;;
    sockrm) rm -f "$sockdir/$ifc.sock" ;;
  esac
  if wgi_wait_for 5 gone "$ifc"; then
    wgi_ok "$impl $kind: exits, interface and socket removed"
  else
    wgi_bad "$impl $kind: left link=$(link_exists "$ifc" && echo y) sock=$(sock_exists "$ifc" && echo y) pid=$(wgi_pid_of "$ifc")"
    [ -n "$(wgi_pid_of "$ifc")" ] && kill -KILL "$(wgi_pid_of "$ifc")"
  fi
}
echo "== lifecycle in the background: wgtun, then wireguard-go for comparison"
for impl in wgtun wireguard-go; do
  for kind in term int linkdel sockrm; do lifecycle "$impl" "$kind"; done
done

echo "== foreground, logging, environment (wgtun)"
# -f: the process we started is the daemon; -v verbose logs to stderr
ifc=${tag}f
ip netns exec "$ns" "$wgtun" -f -v verbose "$ifc" >"$tmp/fg.out" 2>"$tmp/fg.err" &
fpid=$!
wgi_check "-f: link and socket appear" wgi_wait_for 5 sock_exists "$ifc"
wgi_check "-f: the started process itself keeps running" kill -0 "$fpid"
kill -TERM "$fpid"; wait "$fpid"; rc=$?
wgi_check "-f: SIGTERM -> exit 0 (rc=$rc)" test "$rc" = 0
wgi_check "-f: nothing left" gone "$ifc"
wgi_check "-v verbose: logs to stderr with the interface name" grep -q "($ifc).*shutting down" "$tmp/fg.err"

# WG_PROCESS_FOREGROUND=1 acts as -f; WG_LOG_LEVEL=silent prints nothing; -l FILE gets the log
ifc=${tag}e
WG_PROCESS_FOREGROUND=1 WG_LOG_LEVEL=silent ip netns exec "$ns" "$wgtun" "$ifc" >"$tmp/e.out" 2>&1 &
fpid=$!
wgi_check "WG_PROCESS_FOREGROUND=1: stays in the foreground" wgi_wait_for 5 sock_exists "$ifc"
wgi_check "WG_PROCESS_FOREGROUND=1: is the daemon" test "$(wgi_pid_of "$ifc")" = "$fpid"
kill -INT "$fpid"; wait "$fpid"
wgi_check "WG_LOG_LEVEL=silent: no output" test ! -s "$tmp/e.out"
wgi_check "WG_PROCESS_FOREGROUND=1: nothing left" gone "$ifc"

ifc=${tag}l
LOG_LEVEL=debug ip netns exec "$ns" "$wgtun" -l "$tmp/log" "$ifc" >"$tmp/l.out" 2>&1; rc=$?
wgi_check "-l FILE in background: started (rc=$rc)" test "$rc" = 0
nsx wg set "$ifc" listen-port 0 private-key <(wg genkey)
nsx ip link del dev "$ifc"
wgi_wait_for 5 gone "$ifc"
wgi_check "-l FILE: the log file has the start and the shutdown" \
  bash -c "grep -q 'UAPI listening' '$tmp/log' && grep -q 'interface was deleted' '$tmp/log'"
wgi_check "-l FILE: nothing on the terminal" test ! -s "$tmp/l.out"

# LOG_LEVEL=error (default) in the background: the daemon's stdout/stderr do not keep a pipe
ifc=${tag}p
out=$(timeout 10 ip netns exec "$ns" "$wgtun" "$ifc" 2>&1); rc=$?
wgi_check "\$(wgtun IF) returns (rc=$rc, not a timeout)" test "$rc" = 0
nsx ip link del dev "$ifc"; wgi_wait_for 5 gone "$ifc"

# The background daemon does not keep the caller's other fds open.
ifc=${tag}c
timeout 10 ip netns exec "$ns" "$wgtun" "$ifc" 9>"$tmp/marker"; rc=$?
pid=$(wgi_pid_of "$ifc")
wgi_check "no inherited fds in the background daemon (rc=$rc)" \
  bash -c "[ -n '$pid' ] && ! ls -l /proc/$pid/fd/ | grep -q '$tmp/marker'"
nsx ip link del dev "$ifc"; wgi_wait_for 5 gone "$ifc"

# WG_TUN_FD + WG_UAPI_FD: a parent that made the TUN and the listening socket hands them over
# (what wireguard-go's own re-exec does, and what a supervisor may do).
ifc=${tag}i
cat >"$tmp/handover.py" <<'PY'
import fcntl, os, socket, struct, subprocess, sys
ifc, wgtun, fg = sys.argv[1], sys.argv[2], sys.argv[3] == "fg"
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, 0x400454ca, struct.pack("16sH", ifc.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|IFF_NO_PI
os.makedirs("/var/run/wireguard", mode=0o755, exist_ok=True)
path = "/var/run/wireguard/%s.sock" % ifc
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
old = os.umask(0o077); s.bind(path); os.umask(old)
s.listen(16)
os.dup2(tun, 3); os.dup2(s.fileno(), 4)
env = dict(os.environ, WG_TUN_FD="3", WG_UAPI_FD="4")
args = [wgtun] + (["-f"] if fg else []) + [ifc]
p = subprocess.Popen(args, env=env, pass_fds=(3, 4))
print(p.pid, flush=True)
sys.exit(p.wait() if not fg else 0)
PY
nsx python3 "$tmp/handover.py" "$ifc" "$wgtun" fg >"$tmp/h.pid" &
hpid=$!
wgi_check "WG_TUN_FD/WG_UAPI_FD -f: the socket answers" wgi_wait_for 5 bash -c "ip netns exec $ns wg set $ifc listen-port 0 private-key <(wg genkey) 2>/dev/null && ip netns exec $ns wg show $ifc public-key >/dev/null"
wait "$hpid"
dpid=$(cat "$tmp/h.pid")
wgi_check "WG_TUN_FD/WG_UAPI_FD -f: daemon uses the inherited TUN (one $ifc link)" test "$(nsx ip -o link show | grep -c " $ifc:")" = 1
kill -TERM "$dpid" 2>/dev/null
wgi_check "WG_TUN_FD/WG_UAPI_FD -f: SIGTERM removes link and socket" wgi_wait_for 5 gone "$ifc"

ifc=${tag}j
timeout 10 ip netns exec "$ns" python3 "$tmp/handover.py" "$ifc" "$wgtun" bg >/dev/null; rc=$?
wgi_check "WG_TUN_FD/WG_UAPI_FD in the background: parent exits 0 (rc=$rc) and the socket answers" \
  bash -c "[ $rc = 0 ] && ip netns exec $ns wg show $ifc >/dev/null 2>&1"
rm -f "$sockdir/$ifc.sock"
wgi_check "WG_TUN_FD/WG_UAPI_FD: removing the socket file stops it" wgi_wait_for 5 gone "$ifc"

# A stale socket file (nobody listening) is replaced, like wireguard-go does.
ifc=${tag}s
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$sockdir/$ifc.sock"
wgi_check "stale socket file present before start" sock_exists "$ifc"
timeout 10 ip netns exec "$ns" "$wgtun" "$ifc"; rc=$?
wgi_check "stale socket file is replaced (rc=$rc)" bash -c "[ $rc = 0 ] && ip netns exec $ns wg show $ifc >/dev/null 2>&1"
kill -TERM "$(wgi_pid_of "$ifc")"; wgi_wait_for 5 gone "$ifc"
wgi_check "stale case: nothing left" gone "$ifc"

wgi_summary t_daemon_cli
