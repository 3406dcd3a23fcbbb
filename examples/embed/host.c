/*
 * host.c - a game-engine-shaped host for xano.realtime: embeds Lua 5.4,
 * runs a Lua "game" script and drives it from a fixed-rate frame loop.
 *
 *   xrt-host [--hz N] [--max-frames N] [--path P] [--cpath C] game.lua [args...]
 *
 * The script runs once (args in `arg` and `...`) and returns a table:
 *
 *   return {
 *     client = c,                          -- polled with c:poll(0) every frame
 *     update = function(dt, frame) end,    -- the game's frame; false ends the loop
 *     quit   = function() end,             -- after the last frame
 *   }
 *
 * and may call host.phase("name") to start a new row of the report, or
 * host.quit() to end after the current frame.  Each frame the host calls
 * client:poll(0), then update(dt, frame), then sleeps until the next frame
 * is due (absolute CLOCK_MONOTONIC deadlines, so frames do not drift).
 *
 * It measures with clock_gettime what the frame cost us: "poll" is the
 * time inside client:poll(0) (the library and its callbacks), "frame" is
 * poll plus update.  At the end it prints one line per phase and a total:
 *
 *   xrt-host: phase=NAME frames=N worst_poll_ms=X p99_poll_ms=X
 *             mean_poll_ms=X worst_frame_ms=X over_budget=N late=N
 *
 * (over_budget: frames whose work exceeded --budget-ms, 2 by default;
 * late: frames that started more than one period after they were due).
 * Exit status: 0 when the game ended the loop, 3 when --max-frames ran
 * out, 1 on an error.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PHASES 16

struct phase {
	char name[32];
	long frames, over_budget, late;
	double worst_poll, worst_frame, sum_poll;
	double *polls;		/* every poll time of the phase, for p99 */
	long cap;
};

static struct phase phases[MAX_PHASES];
static int nphases;
static int quit_requested;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct phase *
begin_phase(const char *name)
{
	struct phase *p;

	if (nphases == MAX_PHASES)
		return &phases[nphases - 1];
	p = &phases[nphases++];
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

static void
record(struct phase *p, double poll, double frame, double budget, int late)
{
	if (p->frames == p->cap) {
		long cap = p->cap ? p->cap * 2 : 1024;
		double *n = realloc(p->polls, (size_t)cap * sizeof(*n));

		if (!n) {
			fprintf(stderr, "xrt-host: out of memory\n");
			exit(1);
		}
		p->polls = n;
		p->cap = cap;
	}
	p->polls[p->frames++] = poll;
	p->sum_poll += poll;
	if (poll > p->worst_poll)
		p->worst_poll = poll;
	if (frame > p->worst_frame)
		p->worst_frame = frame;
	if (frame > budget)
		p->over_budget++;
	p->late += late;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
report(const struct phase *p)
{
	double p99 = 0;

	if (p->frames > 0) {
		qsort(p->polls, (size_t)p->frames, sizeof(double), cmp_double);
		p99 = p->polls[(long)((double)(p->frames - 1) * 0.99)];
	}
	printf("xrt-host: phase=%s frames=%ld worst_poll_ms=%.3f p99_poll_ms=%.3f "
	       "mean_poll_ms=%.4f worst_frame_ms=%.3f over_budget=%ld late=%ld\n",
	       p->name, p->frames, p->worst_poll * 1e3, p99 * 1e3,
	       p->frames ? p->sum_poll / (double)p->frames * 1e3 : 0.0,
	       p->worst_frame * 1e3, p->over_budget, p->late);
}

/* host.phase(name) */
static int
l_phase(lua_State *L)
{
	begin_phase(luaL_checkstring(L, 1));
	return 0;
}

/* host.quit() */
static int
l_quit(lua_State *L)
{
	quit_requested = 1;
	return 0;
}

/* host.now(): the host's clock, in seconds */
static int
l_now(lua_State *L)
{
	lua_pushnumber(L, now());
	return 1;
}

static int
traceback(lua_State *L)
{
	luaL_traceback(L, L, lua_tostring(L, 1), 1);
	return 1;
}

/* Calls the function on the stack (below nargs arguments) in protected
 * mode; on error prints it and returns nonzero. */
static int
call(lua_State *L, int nargs, int nres, const char *what)
{
	int base = lua_gettop(L) - nargs;
	int r;

	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	r = lua_pcall(L, nargs, nres, base);
	lua_remove(L, base);
	if (r != LUA_OK) {
		fprintf(stderr, "xrt-host: error in %s: %s\n", what,
			lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return r != LUA_OK;
}

static void
prepend(lua_State *L, const char *field, const char *dirs)
{
	lua_getglobal(L, "package");
	lua_pushstring(L, dirs);
	lua_pushliteral(L, ";");
	lua_getfield(L, -3, field);
	lua_concat(L, 3);
	lua_setfield(L, -2, field);
	lua_pop(L, 1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: xrt-host [--hz N] [--max-frames N] [--budget-ms N] "
		"[--path P] [--cpath C] game.lua [args...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *path = "lua/?.lua;lua/?/init.lua";
	const char *cpath = "build/5.4/?.so";
	double hz = 60, budget = 0.002;
	long max_frames = 60 * 60, frame;
	struct timespec due;
	double period, t_prev;
	struct phase *cur;
	lua_State *L;
	int i, game, status = 3;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--hz"))
			hz = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--max-frames"))
			max_frames = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--budget-ms"))
			budget = atof(argv[i + 1]) / 1e3;
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else if (!strcmp(argv[i], "--cpath"))
			cpath = argv[i + 1];
		else
			usage();
	}
	if (i >= argc || hz <= 0 || max_frames <= 0)
		usage();

	L = luaL_newstate();
	if (!L)
		return 1;
	luaL_openlibs(L);
	prepend(L, "path", path);
	prepend(L, "cpath", cpath);

	lua_newtable(L);
	lua_pushcfunction(L, l_phase);
	lua_setfield(L, -2, "phase");
	lua_pushcfunction(L, l_quit);
	lua_setfield(L, -2, "quit");
	lua_pushcfunction(L, l_now);
	lua_setfield(L, -2, "now");
	lua_pushnumber(L, hz);
	lua_setfield(L, -2, "hz");
	lua_setglobal(L, "host");

	/* arg = { [0] = script, ... } like the lua interpreter */
	lua_createtable(L, argc - i, 1);
	lua_pushstring(L, argv[i]);
	lua_rawseti(L, -2, 0);
	for (int k = i + 1; k < argc; k++) {
		lua_pushstring(L, argv[k]);
		lua_rawseti(L, -2, k - i);
	}
	lua_setglobal(L, "arg");

	cur = begin_phase("start");
	if (luaL_loadfile(L, argv[i]) != LUA_OK) {
		fprintf(stderr, "xrt-host: %s\n", lua_tostring(L, -1));
		return 1;
	}
	for (int k = i + 1; k < argc; k++)
		lua_pushstring(L, argv[k]);
	if (call(L, argc - i - 1, 1, argv[i]))
		return 1;
	if (!lua_istable(L, -1)) {
		fprintf(stderr, "xrt-host: %s must return a table\n", argv[i]);
		return 1;
	}
	game = lua_gettop(L);

	period = 1.0 / hz;
	clock_gettime(CLOCK_MONOTONIC, &due);
	t_prev = now();
	for (frame = 1; frame <= max_frames; frame++) {
		double t0 = now(), t1, t2, dt = t0 - t_prev;
		long step = (long)(period * 1e9);
		int late, stop = 0;

		t_prev = t0;
		/* our part of the frame: client:poll(0) */
		lua_getfield(L, game, "client");
		if (!lua_isnil(L, -1)) {
			lua_getfield(L, -1, "poll");
			lua_insert(L, -2);
			lua_pushinteger(L, 0);
			if (call(L, 2, 0, "client:poll(0)")) {
				status = 1;
				break;
			}
		} else {
			lua_pop(L, 1);
		}
		t1 = now();
		/* the game's part */
		lua_getfield(L, game, "update");
		if (lua_isfunction(L, -1)) {
			lua_pushnumber(L, dt);
			lua_pushinteger(L, frame);
			if (call(L, 2, 1, "update")) {
				status = 1;
				break;
			}
			stop = lua_toboolean(L, -1) == 0 && !lua_isnil(L, -1);
		}
		lua_pop(L, 1);
		t2 = now();

		/* host.phase() during the frame starts counting from the next */
		late = frame > 1 && dt > 2 * period;
		record(cur, t1 - t0, t2 - t0, budget, late);
		cur = &phases[nphases - 1];
		if (stop || quit_requested) {
			status = 0;
			break;
		}

		due.tv_nsec += step;
		while (due.tv_nsec >= 1000000000L) {
			due.tv_nsec -= 1000000000L;
			due.tv_sec++;
		}
		if (now() > (double)due.tv_sec + (double)due.tv_nsec / 1e9 + period)
			clock_gettime(CLOCK_MONOTONIC, &due);	/* far behind: resync */
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
			;
	}

	lua_getfield(L, game, "quit");
	if (lua_isfunction(L, -1)) {
		if (call(L, 0, 0, "quit"))
			status = 1;
	} else {
		lua_pop(L, 1);
	}
	{
		double t0 = now();

		lua_close(L);
		printf("xrt-host: close_ms=%.3f\n", (now() - t0) * 1e3);
	}

	{
		struct phase all;
		long at = 0;

		memset(&all, 0, sizeof(all));
		snprintf(all.name, sizeof(all.name), "all");
		for (i = 0; i < nphases; i++)
			all.cap += phases[i].frames;
		all.polls = malloc((size_t)(all.cap ? all.cap : 1) * sizeof(double));
		for (i = 0; i < nphases; i++) {
			struct phase *p = &phases[i];

			if (p->frames == 0)
				continue;
			memcpy(all.polls + at, p->polls, (size_t)p->frames * sizeof(double));
			at += p->frames;
			all.frames += p->frames;
			all.sum_poll += p->sum_poll;
			all.over_budget += p->over_budget;
			all.late += p->late;
			if (p->worst_poll > all.worst_poll)
				all.worst_poll = p->worst_poll;
			if (p->worst_frame > all.worst_frame)
				all.worst_frame = p->worst_frame;
			report(p);
		}
		report(&all);
		free(all.polls);
		for (i = 0; i < nphases; i++)
			free(phases[i].polls);
	}
	fflush(stdout);
	return status;
}
