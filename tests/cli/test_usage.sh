#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every command group as a user meets it: `--help` (after the group or one
# of its subcommands) prints the usage on stdout and exits 0; bad usage (no
# or an unknown subcommand, an unexpected argument, a missing operand)
# exits 2 with nothing on stdout and a message on stderr naming what was
# wrong, then the usage; a key file that cannot be loaded is bad usage in
# every command that takes one, with one message.
. "$MACULA_TEST_HELPERS/interop.sh"

# asks_help GROUP...: `macula GROUP... --help` prints "usage: macula GROUP"
# on stdout, nothing on stderr, exit 0.
asks_help() {
  local rc=0 out
  out=$("$MACULA" "$@" --help 2>"$T_DIR/help.err") || rc=$?
  [ "$rc" = 0 ] || t_fail "'macula $* --help' exited $rc"
  grep -q "^usage: macula ${1:-}" <<<"$out" || t_fail "'macula $* --help' printed no usage on stdout: $out"
  [ ! -s "$T_DIR/help.err" ] || t_fail "'macula $* --help' wrote to stderr: $(cat "$T_DIR/help.err")"
}

# bad_usage MESSAGE CMD...: exit 2, nothing on stdout, "macula: MESSAGE" on stderr.
bad_usage() {
  local msg=$1; shift
  local rc=0
  "$MACULA" "$@" >"$T_DIR/bad.out" 2>"$T_DIR/bad.err" </dev/null || rc=$?
  [ "$rc" = 2 ] || t_fail "'macula $*' exited $rc, expected 2 ($(cat "$T_DIR/bad.err"))"
  [ ! -s "$T_DIR/bad.out" ] || t_fail "'macula $*' wrote to stdout after bad usage: $(cat "$T_DIR/bad.out")"
  grep -qF -- "macula: $msg" "$T_DIR/bad.err" || t_fail "'macula $*' said '$(cat "$T_DIR/bad.err")', expected 'macula: $msg'"
}

# with_usage CMD...: the last bad_usage also printed the usage.
with_usage() { grep -q "^usage: macula" "$T_DIR/bad.err" || t_fail "'macula $*': no usage after the error"; }

asks_help
for group in key frame quic listen dial demo bench; do asks_help "$group"; done
asks_help key cert
for sub in "key gen" "key from-seed" "key show" "frame decode" "frame verify" "frame verify-publisher" "frame resign" "frame parse-stream" \
  "quic serve" "quic dial"; do
  # shellcheck disable=SC2086
  asks_help $sub
done
bad_usage "unknown command 'bogus'" bogus

for group in key frame quic; do
  bad_usage "$group: a subcommand is needed" "$group"; with_usage "$group"
  bad_usage "$group: unknown subcommand 'bogus'" "$group" bogus; with_usage "$group" bogus
done

"$MACULA" key gen -o "$T_DIR/k.key"
bad_usage "key gen: unexpected argument '--bogus'" key gen --bogus -o "$T_DIR/x.key"; with_usage key gen
bad_usage "key gen: -o FILE is required" key gen
bad_usage "key from-seed: SEED_HEX and -o FILE are required" key from-seed
bad_usage "key show: expected one key FILE" key show
bad_usage "key cert: unexpected argument '--bogus'" key cert "$T_DIR/k.key" --bogus
bad_usage "key cert: KEYFILE, --cert-out and --key-out are required" key cert "$T_DIR/k.key"
bad_usage "frame decode: expected WIRE_HEX" frame decode; with_usage frame decode
bad_usage "frame verify: expected WIRE_HEX PUBKEY_HEX" frame verify 00
bad_usage "frame verify-publisher: expected WIRE_HEX" frame verify-publisher; with_usage frame verify-publisher
bad_usage "frame resign: expected SEED_HEX WIRE_HEX" frame resign 00
bad_usage "frame parse-stream: expected HEX" frame parse-stream
bad_usage "quic serve: unexpected argument '--bogus'" quic serve --bogus; with_usage quic serve
bad_usage "quic serve: --listen and --key are required" quic serve --listen 127.0.0.1:0
bad_usage "quic dial: ADDR:PORT is required" quic dial
bad_usage "quic dial: expected HOST:PORT or [V6]:PORT with a non-zero port, got '127.0.0.1:0'" quic dial 127.0.0.1:0
bad_usage "--timeout-ms: expected milliseconds (1..86400000)" quic dial 127.0.0.1:1 --timeout-ms 0
bad_usage "--idle-timeout-ms: expected milliseconds (1..86400000)" quic serve --idle-timeout-ms x
bad_usage "--alpn: expected a protocol name" quic dial 127.0.0.1:1 --alpn ""
bad_usage "--alpn: expected a protocol name" listen --alpn ""
bad_usage "listen: unexpected argument '--bogus'" listen --bogus; with_usage listen
bad_usage "--listen: expected HOST:PORT or [V6]:PORT, got 'nowhere'" listen --listen nowhere --key "$T_DIR/k.key"
bad_usage "dial: unexpected argument '--bogus'" dial --bogus; with_usage dial
bad_usage "dial: ADDR:PORT and --key are required" dial 127.0.0.1:1
bad_usage "--drain-ms: expected milliseconds (1..86400000)" dial 127.0.0.1:1 --drain-ms 0
bad_usage "demo: unexpected argument '--bogus'" demo --bogus; with_usage demo
bad_usage "--drain-ms: expected milliseconds (1..60000)" demo --drain-ms 0

# A key file that cannot be loaded: the same message and exit 2 everywhere.
missing=$T_DIR/missing.key
printf 'not a key' >"$T_DIR/bad.key"
for key in "$missing" "$T_DIR/bad.key"; do
  bad_usage "cannot load key file $key: " key show "$key"
  bad_usage "cannot load key file $key: " key cert "$key" --cert-out "$T_DIR/c.pem" --key-out "$T_DIR/k.pem"
  bad_usage "cannot load key file $key: " quic serve --listen 127.0.0.1:0 --key "$key"
  bad_usage "cannot load key file $key: " listen --listen 127.0.0.1:0 --key "$key"
  bad_usage "cannot load key file $key: " dial 127.0.0.1:1 --key "$key"
done
[ ! -e "$T_DIR/c.pem" ] && [ ! -e "$T_DIR/k.pem" ] || t_fail "key cert wrote files without a key"
echo ok
