# The session a spec's process runs in (spec/support/proc.lua starts it
# with setsid, so its pid is the session's and the process group's).
#
#   sh session.sh DIR split|merge STDIN PROGRAM [ARG...]
#
# Writes its pid to DIR/session, then runs PROGRAM with stdin from STDIN,
# stdout to DIR/out and stderr to DIR/err (split) or DIR/out (merge),
# through a sh that writes PROGRAM's pid to DIR/main and execs it: a
# signal sent to that pid reaches PROGRAM itself, which runs in the
# foreground (a background job of a sh would ignore SIGINT).  Once it
# exits, writes its exit status (128 + N when signal N ended it) to
# DIR/status.
#
# Its stdin is the read end of a pipe whose only writer is the spec
# process: the guard reads it, and when it ends (the spec process
# exited, crashed or was killed without kill()), removes DIR and KILLs
# the whole group, so that nothing outlives the specs.
d=$1 err=$2 in=$3
shift 3
echo $$ > "$d/session.tmp" && mv "$d/session.tmp" "$d/session"
exec 4<&0 </dev/null
(read x <&4; rm -rf "$d"; kill -KILL 0) &
guard=$!
exec 4<&-
run='echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"'
if [ "$err" = split ]; then
  sh -c "$run" "$d/main" "$@" <"$in" >"$d/out" 2>"$d/err"
else
  sh -c "$run" "$d/main" "$@" <"$in" >"$d/out" 2>&1
fi
s=$?
kill $guard 2>/dev/null
echo $s > "$d/status.tmp" && mv "$d/status.tmp" "$d/status"
