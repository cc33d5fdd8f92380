/* SPDX-License-Identifier: MIT */
#include "os/fmt.h"

void pk__fmt_put(struct pk__fmt *f, const char *s)
{
	for (; *s; s++, f->need++)
		if (f->need + 1 < f->len) {
			f->buf[f->need] = *s;
			f->buf[f->need + 1] = 0;
		}
}

void pk__fmt_num(struct pk__fmt *f, unsigned long v, int base)
{
	char tmp[24], *p = tmp + sizeof(tmp) - 1;

	*p = 0;
	do
		*--p = "0123456789abcdef"[v % (unsigned)base];
	while (v /= (unsigned)base);
	if (base == 16)
		pk__fmt_put(f, "0x");
	pk__fmt_put(f, p);
}
