# bench/lib.sh - what the benchmark shell scripts share (sourced by
# compare.sh, profile.sh and rawmode.sh).

# listen_port LOG: the port a server announced in LOG with its ready line
# ("listening ws://127.0.0.1:PORT/..."), waiting up to 5 s for it; prints
# nothing when no such line came.
listen_port() {
  _lp_port=
  _lp_i=0
  while [ -z "$_lp_port" ] && [ "$_lp_i" -lt 100 ]; do
    _lp_port=$(sed -n 's|^listening ws://127.0.0.1:\([0-9]*\)/.*|\1|p' "$1")
    [ -n "$_lp_port" ] || sleep 0.05
    _lp_i=$((_lp_i + 1))
  done
  echo "$_lp_port"
}
