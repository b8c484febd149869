set -x
id -u; cat /proc/self/cgroup
B=dist/lib/sandbox-cli.cjs
T='import os; b=bytearray(400<<20); print(len(b))'
timeout 120 node $B exec -m 64m --json -- python3 -c "$T"; echo "exit=$?"
bash -c "sleep 60 & node $B exec -m 64m --json -- python3 -c '$T'; echo exit=\$?; kill %1"
cat /proc/self/cgroup
systemctl ${USERFLAG} list-units --all 'sandbox-*' --no-legend
ls /sys/fs/cgroup/ /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/ 2>&1
