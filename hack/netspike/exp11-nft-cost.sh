#!/bin/bash
# Experiment 11: the cost of loading a network's nft rules with one nft(8)
# exec, inside the holder's namespaces (mean of 20, nsenter excluded by
# running the loop inside).
set -u
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
holder net1 10.89.0
cat > $D/rules.nft <<'NFT'
flush ruleset
table ip usandbox {
	chain postrouting { type nat hook postrouting priority srcnat; ip saddr 10.89.0.0/24 oifname "tap0" masquerade; }
	chain forward { type filter hook forward priority filter; policy drop;
		iifname "br0" oifname "tap0" accept
		iifname "tap0" oifname "br0" ct state established,related accept
		iifname "br0" oifname "br0" accept
	}
}
NFT
inns net1 sh -c "t0=\$(date +%s%N); for i in \$(seq 20); do nft -f $D/rules.nft; done; t1=\$(date +%s%N); echo \"nft -f (one table, 2 chains): \$(( (t1-t0)/20000 )) us per load\"
t0=\$(date +%s%N); for i in \$(seq 20); do ip link show br0 >/dev/null; done; t1=\$(date +%s%N); echo \"ip link show (exec baseline): \$(( (t1-t0)/20000 )) us\""
