/* SPDX-License-Identifier: MIT */
/*
 * token_service: a small service that keeps API tokens in a pk_heap and
 * opens access to them only around their use.
 *
 * The tokens live in a heap whose key is closed for the whole program.
 * Signing a request opens a read window, computes the signature and
 * closes it; storing a token opens a write window.  Everything else in
 * the program, including a buggy logger that reads past its buffer, is
 * stopped by the key.  Revoked tokens are wiped by pk_heap_free.
 *
 * The signature is a keyed FNV-1a hash, a stand-in for a real MAC
 * (HMAC-SHA-256 from a crypto library) to keep the example free of
 * dependencies.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pkeys.h>
#include <pkeys/heap.h>

struct token {
	char name[32];	/* not secret: ordinary memory */
	char *secret;	/* in the heap */
	size_t len;
};

static int key;
static struct pk_heap *heap;
static struct token tokens[8];

static struct token *find(const char *name)
{
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		if (tokens[i].secret && strcmp(tokens[i].name, name) == 0)
			return &tokens[i];
	return NULL;
}

static int token_add(const char *name, const char *value)
{
	struct token *t = find(name);
	void *p = NULL;
	int rc;

	for (size_t i = 0; !t && i < sizeof(tokens) / sizeof(tokens[0]); i++)
		if (!tokens[i].secret)
			t = &tokens[i];
	if (!t)
		return -ENOSPC;
	if ((rc = pk_heap_alloc(heap, strlen(value), &p)) != 0)
		return rc;
	/* A write window just long enough to copy the token in. */
	if ((rc = pk_set(key, 0)) != 0) {
		pk_heap_free(heap, p);
		return rc;
	}
	memcpy(p, value, strlen(value));
	pk_set(key, PK_DISABLE_ACCESS);
	if (t->secret)
		pk_heap_free(heap, t->secret); /* rotation: the old one is wiped */
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->secret = p;
	t->len = strlen(value);
	return 0;
}

static int sign(const struct token *t, const char *request, uint64_t *out)
{
	uint64_t h = 0xcbf29ce484222325u;
	int rc;

	/* A read window: the token can be read, not changed. */
	if ((rc = pk_set(key, PK_DISABLE_WRITE)) != 0)
		return rc;
	for (size_t i = 0; i < t->len; i++)
		h = (h ^ (unsigned char)t->secret[i]) * 0x100000001b3u;
	pk_set(key, PK_DISABLE_ACCESS);
	for (const char *c = request; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3u;
	*out = h;
	return 0;
}

static void handle(const char *name, const char *request)
{
	const struct token *t = find(name);
	uint64_t sig;

	if (!t)
		printf("  %-8s %-28s -> 403 no such token\n", name, request);
	else if (sign(t, request, &sig))
		printf("  %-8s %-28s -> 500 cannot open the tokens\n", name,
		       request);
	else
		printf("  %-8s %-28s -> 200 signature %016llx\n", name, request,
		       (unsigned long long)sig);
}

/* A bug: a logger that dumps the bytes at a pointer it should not have. */
static void buggy_log(void *p)
{
	char copy[17];

	memcpy(copy, p, 16);
	copy[16] = 0;
	printf("  log: %s\n", copy);
}

int main(void)
{
	struct pk_heap_options opt = {
		.reserve = 256 << 10,
		/* Guard pages and canaries are on by default; lock what
		 * RLIMIT_MEMLOCK allows (the heap reports any shortfall). */
		.flags = PK_HEAP_MLOCK,
	};
	struct pk_heap_usage u;
	struct pk_fault fault;
	int rc;

	if ((rc = pk_init()) != 0) {
		fprintf(stderr, "pk_init: %s\n", strerror(-rc));
		return 1;
	}
	key = pk_key_alloc(0, PK_DISABLE_ACCESS);
	if (key < 0) {
		fprintf(stderr, "pk_key_alloc: %s\n", strerror(-key));
		return 1;
	}
	pk_key_set_name(key, "api-tokens");
	rc = pk_heap_create(key, &opt, &heap);
	if (rc) {
		fprintf(stderr, "pk_heap_create: %s\n", strerror(-rc));
		return 1;
	}
	pk_heap_usage(heap, &u);
	printf("backend %s; tokens in a heap under key %d, closed, "
	       "%zu of %zu bytes locked in memory\n\n",
	       pk_backend_name(), key, u.locked, u.reserved);

	token_add("billing", "sk_live_51HbX9eZvKYlo2C8s0Q6t");
	token_add("search", "srch-7f3a9c1e04b2d8e6a5f1c3b7");
	token_add("mail", "SG.x8Jk2mQp4R.vT7nW1yZ3cF5hL9");
	printf("requests:\n");
	handle("billing", "POST /v1/charges amount=42");
	handle("search", "GET /q?term=pkeys");
	handle("backup", "GET /snapshots");

	printf("\na bug reads a token outside any window:\n");
	rc = pk_try(buggy_log, find("billing")->secret, &fault);
	if (rc == -EFAULT)
		printf("  stopped: %s of %p, key %d (%s); nothing leaked\n",
		       fault.access == PK_ACCESS_WRITE ? "write" : "read",
		       fault.addr, fault.key, fault.name ? fault.name : "?");
	else
		printf("  NOT stopped (rc %d)\n", rc);

	printf("\nrotate and revoke:\n");
	token_add("billing", "sk_live_rotated_0000000000001");
	handle("billing", "POST /v1/charges amount=42");
	pk_heap_free(heap, find("mail")->secret);
	find("mail")->secret = NULL;
	handle("mail", "POST /send");

	pk_heap_usage(heap, &u);
	printf("\nheap: %zu tokens, %zu bytes in blocks, %zu page(s) in use\n",
	       u.blocks, u.bytes, u.pages);
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		if (tokens[i].secret)
			pk_heap_free(heap, tokens[i].secret);
	pk_heap_destroy(heap, 0);
	pk_key_free(key);
	return 0;
}
