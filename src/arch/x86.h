/*
 * x86-64 CPU feature bits and the PKRU instructions.  RDPKRU and WRPKRU
 * are emitted as bytes so the library builds with any assembler and
 * without -mpku; callers must have checked OSPKE first, since both
 * instructions raise #UD (SIGILL) when the kernel has not enabled PKU.
 */
#ifndef PK_ARCH_X86_H
#define PK_ARCH_X86_H

#include <stdint.h>

#if defined(__x86_64__)
#include <cpuid.h>

/* CPUID.(EAX=7,ECX=0):ECX bit 3 = PKU, bit 4 = OSPKE. */
static inline void pk__x86_cpuid_pku(int *pku, int *ospke)
{
	unsigned a, b, c, d;

	*pku = *ospke = 0;
	if (__get_cpuid_max(0, 0) < 7)
		return;
	__cpuid_count(7, 0, a, b, c, d);
	*pku = (c >> 3) & 1;
	*ospke = (c >> 4) & 1;
}

/* CPUID.(EAX=7,ECX=0):ECX bit 16: 5-level paging, 56-bit addresses. */
static inline int pk__x86_la57(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid_max(0, 0) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	return (c >> 16) & 1;
}

static inline uint32_t pk__rdpkru(void)
{
	uint32_t eax, edx;

	__asm__ volatile(".byte 0x0f,0x01,0xee"
			 : "=a"(eax), "=d"(edx)
			 : "c"(0));
	return eax;
}

static inline void pk__wrpkru(uint32_t pkru)
{
	/* The memory clobber keeps accesses from moving across the switch. */
	__asm__ volatile(".byte 0x0f,0x01,0xef"
			 :
			 : "a"(pkru), "c"(0), "d"(0)
			 : "memory");
}
#else
static inline void pk__x86_cpuid_pku(int *pku, int *ospke)
{
	*pku = *ospke = 0;
}

static inline int pk__x86_la57(void)
{
	return 0;
}
#endif

#endif
