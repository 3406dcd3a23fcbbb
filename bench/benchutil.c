/*
 * benchutil.c - the few POSIX calls the benchmarks need from Lua
 * (Lua 5.1/LuaJIT to 5.4), as the module "xrt_bench".  Not part of the
 * library; built by `make bench` into build/bench/<version>/.
 *
 *   B.rusage()            -> {user_us=, sys_us=, cpu_us=, nvcsw=, nivcsw=, maxrss_kb=}
 *                            getrusage(RUSAGE_SELF): every thread of the process
 *   B.rss()               -> resident bytes now (/proc/self/statm)
 *   B.now()               -> CLOCK_MONOTONIC seconds (same clock in every process)
 *   B.sleep(seconds)
 *   B.pid()
 *   B.spawn(argv, out, err [, env]) -> pid   stdout/stderr to files, own session
 *   B.wait(pid [, block]) -> nil (still running) | status, rusage-table
 *   B.kill(pid, signal)   -> true | nil, message
 *   B.loadavg()           -> 1, 5, 15 minute load averages
 *   B.threads()           -> { [tid] = {cpu_us=, vcsw=, nvcsw=} } for every
 *                            thread of this process (/proc/self/task:
 *                            schedstat's run time, status's switches)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if LUA_VERSION_NUM < 502 && !defined(luaL_newlib)
#define luaL_newlib(L, l) (lua_newtable(L), luaL_register(L, NULL, l))
#endif

extern char **environ;

static void
setint(lua_State *L, const char *k, double v)
{
	lua_pushnumber(L, v);
	lua_setfield(L, -2, k);
}

static void
push_rusage(lua_State *L, const struct rusage *ru)
{
	double u = (double)ru->ru_utime.tv_sec * 1e6 + (double)ru->ru_utime.tv_usec;
	double s = (double)ru->ru_stime.tv_sec * 1e6 + (double)ru->ru_stime.tv_usec;

	lua_createtable(L, 0, 6);
	setint(L, "user_us", u);
	setint(L, "sys_us", s);
	setint(L, "cpu_us", u + s);
	setint(L, "nvcsw", (double)ru->ru_nvcsw);
	setint(L, "nivcsw", (double)ru->ru_nivcsw);
	setint(L, "maxrss_kb", (double)ru->ru_maxrss);
}

static int
b_rusage(lua_State *L)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	push_rusage(L, &ru);
	return 1;
}

static int
b_rss(lua_State *L)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	lua_pushnumber(L, (double)res * (double)sysconf(_SC_PAGESIZE));
	return 1;
}

static int
b_now(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	return 1;
}

static int
b_sleep(lua_State *L)
{
	double s = luaL_checknumber(L, 1);
	struct timespec ts;

	if (s <= 0)
		return 0;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

static int
b_pid(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)getpid());
	return 1;
}

static int
redirect(const char *path, int fd)
{
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (f < 0)
		return -1;
	if (dup2(f, fd) < 0)
		return -1;
	close(f);
	return 0;
}

/* spawn(argv, out, err [, env-table]) -> pid */
static int
b_spawn(lua_State *L)
{
	int n, i;
	char **argv;
	const char *out = luaL_checkstring(L, 2);
	const char *err = luaL_checkstring(L, 3);
	pid_t pid;

	luaL_checktype(L, 1, LUA_TTABLE);
#if LUA_VERSION_NUM < 502
	n = (int)lua_objlen(L, 1);
#else
	n = (int)lua_rawlen(L, 1);
#endif
	luaL_argcheck(L, n > 0, 1, "argv must not be empty");
	argv = lua_newuserdata(L, sizeof(char *) * (size_t)(n + 1));
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, 1, i + 1);
		argv[i] = (char *)luaL_checkstring(L, -1);
		lua_pop(L, 1);	/* the string stays referenced by argv table */
	}
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return luaL_error(L, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* stay in the caller's process group: a kill of the group
		 * (make bench's trap) reaches every child */
		if (redirect(out, 1) < 0 || redirect(err, 2) < 0)
			_exit(126);
		if (lua_istable(L, 4)) {
			lua_pushnil(L);
			while (lua_next(L, 4)) {
				setenv(lua_tostring(L, -2), lua_tostring(L, -1), 1);
				lua_pop(L, 1);
			}
		}
		/* do not leak the parent's sockets and pipes into the child */
		for (i = 3; i < 1024; i++)
			close(i);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	lua_pushinteger(L, (lua_Integer)pid);
	return 1;
}

/* wait(pid [, block]) -> nil | status, rusage: status is the exit code, or
 * 128 + signal */
static int
b_wait(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int block = lua_toboolean(L, 2), st = 0;
	struct rusage ru;
	pid_t r;

	do
		r = wait4(pid, &st, block ? 0 : WNOHANG, &ru);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r < 0) {
		lua_pushinteger(L, -1);
		return 1;
	}
	lua_pushinteger(L, WIFEXITED(st) ? WEXITSTATUS(st) :
			WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1);
	push_rusage(L, &ru);
	return 2;
}

static int
b_kill(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int sig = (int)luaL_optinteger(L, 2, SIGTERM);

	luaL_argcheck(L, pid > 0, 1, "a process id (> 0) expected");
	if (kill(pid, sig) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, strerror(errno));
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int
b_loadavg(lua_State *L)
{
	double la[3] = { 0, 0, 0 };

	if (getloadavg(la, 3) < 0)
		la[0] = la[1] = la[2] = -1;
	lua_pushnumber(L, la[0]);
	lua_pushnumber(L, la[1]);
	lua_pushnumber(L, la[2]);
	return 3;
}

/* A number after "key:" in a /proc status file, -1 when absent. */
static double
status_field(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	double v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtod(line + klen + 1, NULL);
			break;
		}
	fclose(f);
	return v;
}

static int
b_threads(lua_State *L)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	lua_newtable(L);
	if (!d)
		return 1;
	while ((e = readdir(d))) {
		char path[300];
		unsigned long long ns = 0;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%llu", &ns) != 1)
				ns = 0;
			fclose(f);
		}
		lua_pushinteger(L, (lua_Integer)atol(e->d_name));
		lua_createtable(L, 0, 3);
		setint(L, "cpu_us", (double)ns / 1e3);
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		setint(L, "vcsw", status_field(path, "voluntary_ctxt_switches"));
		setint(L, "nvcsw", status_field(path, "nonvoluntary_ctxt_switches"));
		lua_settable(L, -3);
	}
	closedir(d);
	return 1;
}

static const luaL_Reg funcs[] = {
	{ "threads", b_threads },
	{ "rusage", b_rusage },
	{ "rss", b_rss },
	{ "now", b_now },
	{ "sleep", b_sleep },
	{ "pid", b_pid },
	{ "spawn", b_spawn },
	{ "wait", b_wait },
	{ "kill", b_kill },
	{ "loadavg", b_loadavg },
	{ NULL, NULL }
};

int luaopen_xrt_bench(lua_State *L);

int
luaopen_xrt_bench(lua_State *L)
{
	luaL_newlib(L, funcs);
	return 1;
}
