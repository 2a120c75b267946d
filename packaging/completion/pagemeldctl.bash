# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for pagemeldctl(1)
_pagemeldctl()
{
	local cur prev words cword
	_init_completion || return

	local commands="status list top features metrics budget enable disable unmerge-all merge-across-nodes estimate"
	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case "${words[i]}" in
		-*) ;;
		*)
			case "${words[i - 1]}" in
			-n | --iterations | -i | --interval | --merge | --swap | --namespace) ;;
			*)
				cmd=${words[i]}
				break
				;;
			esac
			;;
		esac
	done

	case "$prev" in
	-n | --iterations | -i | --interval | --namespace)
		return
		;;
	--merge | --swap)
		COMPREPLY=($(compgen -W "256Mi 512Mi 1Gi 2Gi max" -- "$cur"))
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--json --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	case "$cmd" in
	status | features | metrics)
		COMPREPLY=($(compgen -W "--json" -- "$cur"))
		;;
	list)
		COMPREPLY=($(compgen -W "--json --wide --namespace" -- "$cur"))
		;;
	top)
		COMPREPLY=($(compgen -W "--json --iterations --interval --wide --namespace" -- "$cur"))
		;;
	budget | enable | disable)
		if [[ $cur == -* ]]; then
			[[ $cmd == budget ]] && COMPREPLY=($(compgen -W "--merge --swap" -- "$cur"))
		else
			# managed cgroups, as the daemon lists them
			local cgroups
			cgroups=$(pagemeldctl --json list 2>/dev/null | sed -n 's/^ *"path": *"\(.*\)",\{0,1\}$/\1/p')
			COMPREPLY=($(compgen -W "$cgroups" -- "$cur"))
		fi
		;;
	estimate)
		COMPREPLY=($(compgen -W "--json --candidates --namespace" -- "$cur"))
		;;
	unmerge-all)
		COMPREPLY=($(compgen -W "--force --wait" -- "$cur"))
		;;
	merge-across-nodes)
		COMPREPLY=($(compgen -W "--force on off" -- "$cur"))
		;;
	esac
} && complete -F _pagemeldctl pagemeldctl
