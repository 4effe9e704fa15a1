#!/usr/bin/env bash
# RUNTIME wrapper for running runtime-tools' validation suite rootless.
#
# The suite has no rootless mode: its bundles have no user namespace, so an
# unprivileged caller's runtime cannot create them. Pointed to by RUNTIME,
# with the real runtime in OCISUITE_RUNTIME, this script execs
# "$OCISUITE_RUNTIME" with exactly the arguments it was given. Before that,
# and only for the commands "create" and "run", it edits the bundle's
# config.json (the bundle of --bundle/-b/--bundle=B, else the working
# directory, as the OCI CLI says), in place, and changes only this:
#   - linux.namespaces: adds {"type": "user"} when it has no user entry;
#   - linux.uidMappings, when absent or empty, becomes
#       [{containerID 0, hostID <caller's uid>, size 1},
#        {containerID 1, hostID <start of caller's /etc/subuid range>, size <its count>}]
#   - linux.gidMappings likewise with the caller's gid and /etc/subgid.
# A config that already has a user namespace with a path (joining one) is
# left alone, and mappings a test set itself are kept. Nothing else in the
# config (mounts, network namespace, cgroups, resources) and no other
# command or argument is touched. Needs jq (hack/deps.sh installs it).
set -euo pipefail

die() { echo "rootless-runtime.sh: $*" >&2; exit 1; }

real=${OCISUITE_RUNTIME:-}
[[ -n $real ]] || die "OCISUITE_RUNTIME (the real runtime) is not set"

# The command: the first argument that is not a global option or the value
# of one (runc's global options with a value: --root --log --log-format
# --criu --rootless).
cmd= i=1
args=("$@")
while ((i <= $#)); do
	a=${args[i - 1]}
	case $a in
	--root | --log | --log-format | --criu | --rootless) i=$((i + 2)) ;;
	-*) i=$((i + 1)) ;;
	*) cmd=$a; break ;;
	esac
done

if [[ $cmd == create || $cmd == run ]]; then
	bundle=.
	for ((j = i + 1; j <= $#; j++)); do
		a=${args[j - 1]}
		case $a in
		--bundle | -b) bundle=${args[j]:-.}; j=$((j + 1)) ;;
		--bundle=* | -b=*) bundle=${a#*=} ;;
		esac
	done
	config=$bundle/config.json
	[[ -f $config ]] || die "$config does not exist"

	# range FILE: "start count" of the caller's line (by name or uid).
	name=$(id -un) uid=$(id -u) gid=$(id -g)
	range() {
		awk -F: -v n="$name" -v u="$uid" '($1 == n || $1 == u) && NF >= 3 { print $2, $3; exit }' "$1"
	}
	read -r subuid subuids < <(range /etc/subuid) || die "no range for $name in /etc/subuid"
	read -r subgid subgids < <(range /etc/subgid) || die "no range for $name in /etc/subgid"

	tmp=$(mktemp "$bundle/.config.json.XXXXXX")
	jq --argjson uid "$uid" --argjson gid "$gid" \
		--argjson subuid "$subuid" --argjson subuids "$subuids" \
		--argjson subgid "$subgid" --argjson subgids "$subgids" '
		def maps($id; $start; $count):
			[{containerID: 0, hostID: $id, size: 1}, {containerID: 1, hostID: $start, size: $count}];
		if any(.linux.namespaces[]?; .type == "user" and (.path // "") != "") then .
		else
			.linux.namespaces = ((.linux.namespaces // []) |
				if any(.[]; .type == "user") then . else . + [{type: "user"}] end)
			| if ((.linux.uidMappings // []) | length) == 0
				then .linux.uidMappings = maps($uid; $subuid; $subuids) else . end
			| if ((.linux.gidMappings // []) | length) == 0
				then .linux.gidMappings = maps($gid; $subgid; $subgids) else . end
		end' "$config" >"$tmp" || { rm -f "$tmp"; die "editing $config failed"; }
	chmod --reference="$config" "$tmp"
	mv "$tmp" "$config"
fi

exec "$real" "$@"
