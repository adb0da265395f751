package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// commandNames are the subcommands, as completion offers them.
var commandNames = []string{"login", "token", "logout", "upload", "assets", "analyze", "encode",
	"provision", "s3-notify", "completion", "version", "help"}

const completionUsage = `pertitle completion bash|zsh|fish

Prints a completion script for the shell. Load it with, for example:
  bash: source <(pertitle completion bash)          (or save it under /etc/bash_completion.d/)
  zsh:  pertitle completion zsh > "${fpath[1]}/_pertitle"
  fish: pertitle completion fish > ~/.config/fish/completions/pertitle.fish`

func cmdCompletion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	pos, err := parseArgs(newFlags("completion", completionUsage, stderr), args, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitError{2, errors.New("usage: pertitle completion bash|zsh|fish")}
	}
	cmds, sub := strings.Join(commandNames, " "), strings.Join(assetCommands, " ")
	switch pos[0] {
	case "bash":
		fmt.Fprintf(stdout, bashCompletion, cmds, sub)
	case "zsh":
		fmt.Fprintf(stdout, zshCompletion, cmds, sub)
	case "fish":
		fmt.Fprintf(stdout, fishCompletion, cmds, cmds, sub)
	default:
		return exitError{2, fmt.Errorf("no completion for shell %q: bash, zsh or fish", pos[0])}
	}
	return nil
}

const bashCompletion = `# bash completion for pertitle
_pertitle() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s" -- "$cur")); return
  fi
  case "${COMP_WORDS[1]}" in
    assets) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "%s" -- "$cur")) ;;
    completion) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
    upload|analyze|encode) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -o default -F _pertitle pertitle
`

const zshCompletion = `#compdef pertitle
_pertitle() {
  if (( CURRENT == 2 )); then
    compadd -- %s; return
  fi
  case "${words[2]}" in
    assets) (( CURRENT == 3 )) && compadd -- %s ;;
    completion) (( CURRENT == 3 )) && compadd -- bash zsh fish ;;
    upload|analyze|encode) _files ;;
  esac
}
compdef _pertitle pertitle
`

const fishCompletion = `# fish completion for pertitle
complete -c pertitle -f
complete -c pertitle -n "not __fish_seen_subcommand_from %s" -a "%s"
complete -c pertitle -n "__fish_seen_subcommand_from assets" -a "%s"
complete -c pertitle -n "__fish_seen_subcommand_from completion" -a "bash zsh fish"
complete -c pertitle -n "__fish_seen_subcommand_from upload analyze encode" -F
`
