#!/bin/sh
# SIGKILL of `kin supervise` leaves no service running (issue 13 item 4): the real binary, a
# real service, a real SIGKILL. Usage: supervise_sigkill.sh PATH_TO_KIN
set -u
kin=$1
d=$(mktemp -d /tmp/kin-supervise-kill-XXXXXX)
cat > "$d/s.toml" <<TOML
[supervisor]
runtime_dir = "run"
[services.sleeper]
command = ["sh", "-c", "echo \$\$ > $d/pid; exec sleep 60"]
TOML
"$kin" supervise "$d/s.toml" 2> "$d/err" &
sup=$!
i=0
while [ ! -s "$d/pid" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
if [ ! -s "$d/pid" ]; then echo "the service never started"; cat "$d/err"; kill -9 $sup; rm -rf "$d"; exit 1; fi
pid=$(cat "$d/pid")
kill -9 $sup
wait $sup 2> /dev/null
i=0
while [ $i -lt 200 ]; do
  if ! kill -0 "$pid" 2> /dev/null; then echo "service gone after SIGKILL of kin supervise"; rm -rf "$d"; exit 0; fi
  sleep 0.05
  i=$((i + 1))
done
echo "service $pid still running"
[ "$pid" -gt 0 ] && kill -9 "$pid"
rm -rf "$d"
exit 1
