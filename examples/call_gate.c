/* SPDX-License-Identifier: MIT */
/*
 * call_gate: a component (here a small parser standing in for a
 * third-party library) kept behind a call gate.
 *
 * Two keys split the program's memory:
 *   app  the application's secrets (a session key): open in the
 *        application, closed while the component runs;
 *   lib  the component's private state (its buffers and counters):
 *        closed in the application, open while the component runs.
 * The gate is one pk_domain_enter on the way in (both keys set in one
 * step, the caller's rights saved) and one pk_domain_leave on the way
 * out (the caller's rights back exactly, nested gates included).  A bug
 * in the component that reads the application's secret faults, and so
 * does an application bug that scribbles over the component's state.
 *
 * On key hardware this confines the thread that goes through the gate,
 * even while other threads run the application.  On the emulation the
 * rights of all threads are combined per key, so the confinement holds
 * while no other thread has the other side open: this program is
 * single-threaded and behaves the same on both backends.  Exits 0 when
 * every check holds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <pkeys.h>

static int app_key, lib_key;
static char *app_secret; /* under app_key */
static struct lib_state {
	unsigned calls;
	char last_token[64];
} *lib; /* under lib_key */

/* --- the component ------------------------------------------------ */

/* Counts the fields of "a=1;b=2;..." and keeps the last one. */
static int lib_parse(const char *in)
{
	int fields = 0;
	const char *s = in;

	lib->calls++;
	for (const char *p = in;; p++) {
		if (*p == ';' || *p == 0) {
			size_t n = (size_t)(p - s);

			if (n) {
				fields++;
				n = n < sizeof(lib->last_token) - 1
					    ? n
					    : sizeof(lib->last_token) - 1;
				memcpy(lib->last_token, s, n);
				lib->last_token[n] = 0;
			}
			if (!*p)
				return fields;
			s = p + 1;
		}
	}
}

/* A component bug: it reads memory it was never given. */
static void lib_overread(void *arg)
{
	(void)arg;
	volatile char c = app_secret[0];
	(void)c;
}

/* --- the gate ------------------------------------------------------ */

/* Run fn(arg) inside the component's domain.  The component's faults
 * are caught and reported here instead of ending the program. */
static int gate(void (*fn)(void *), void *arg, struct pk_fault *fault)
{
	const struct pk_domain_entry inside[2] = {
		{lib_key, 0},			/* its own state: open */
		{app_key, PK_DISABLE_ACCESS},	/* the application's: closed */
	};
	struct pk_domain_saved saved;
	int rc = pk_domain_enter(inside, 2, &saved);

	if (rc)
		return rc;
	rc = pk_try(fn, arg, fault);
	pk_domain_leave(&saved);
	return rc;
}

struct parse_call {
	const char *in;
	int fields;
};

static void do_parse(void *arg)
{
	struct parse_call *c = arg;

	c->fields = lib_parse(c->in);
}

/* An application bug: it writes into the component's state. */
static void app_scribble(void *arg)
{
	(void)arg;
	lib->calls = 0;
}

/* --- the application ------------------------------------------------ */

static void *keyed_page(int key)
{
	void *p = NULL;

	return pk_mmap(&p, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, key)
		       ? NULL
		       : p;
}

int main(void)
{
	struct parse_call call = {"user=ada;role=admin;ttl=60", 0};
	struct pk_fault f;
	int rc;

	app_key = pk_key_alloc(0, 0);			 /* open in the app */
	lib_key = pk_key_alloc(0, PK_DISABLE_ACCESS); /* closed in the app */
	if (app_key < 0 || lib_key < 0)
		return fprintf(stderr, "pk_key_alloc failed\n"), 1;
	pk_key_set_name(app_key, "app-secrets");
	pk_key_set_name(lib_key, "parser-state");
	app_secret = keyed_page(app_key);
	lib = keyed_page(lib_key);
	if (!app_secret || !lib)
		return fprintf(stderr, "pk_mmap failed\n"), 1;
	strcpy(app_secret, "session-key-5f2a");

	/* A call through the gate: the component works on its own state. */
	if ((rc = gate(do_parse, &call, &f)) != 0 || call.fields != 3)
		return fprintf(stderr, "parse through the gate: %d\n", rc), 1;

	/* The component cannot read the application's secret... */
	if (gate(lib_overread, NULL, &f) != -EFAULT || f.key != app_key ||
	    f.access != PK_ACCESS_READ)
		return fprintf(stderr, "the component read the secret\n"), 1;
	printf("inside the gate: reading the app's secret stopped by key %d "
	       "(%s)\n", f.key, f.name ? f.name : "?");

	/* ...and the application cannot write the component's state. */
	if (pk_try(app_scribble, NULL, &f) != -EFAULT || f.key != lib_key ||
	    f.access != PK_ACCESS_WRITE)
		return fprintf(stderr, "the app wrote the component's state\n"),
		       1;
	printf("outside the gate: writing the parser's state stopped by key "
	       "%d (%s)\n", f.key, f.name ? f.name : "?");

	/* The caller's rights came back exactly after each gate. */
	if (pk_get(app_key) != 0 || pk_get(lib_key) != PK_DISABLE_ACCESS)
		return fprintf(stderr, "rights not restored\n"), 1;
	printf("parsed %d fields; the application's secret is intact: %s\n",
	       call.fields, app_secret);
	return 0;
}
