/* Missing names answered here: a path through a directory the broker listed
 * (struct sb_listing) whose next name is not among its names names nothing,
 * so a lookup of it fails with ENOENT without a round trip.  CPython probes
 * several names that are not there for every package it imports, and its
 * start looks for a dozen files beside its binary.  The listings are the
 * broker's, and it lists only what the sandbox can never change. */
#include "runtime.h"

#define PATH_MAX 4096
#define NAME_MAX 255

static const struct sb_listing *listing_of(const char *dir, unsigned long len, uint64_t h, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const struct sb_listing *l = &ST->listings[i];
        if (l->hash == h && l->len == len && !memcmp(l->path, dir, len))
            return l;
    }
    return 0;
}

static int listed(const struct sb_listing *l, uint32_t name)
{
    unsigned long lo = l->first, hi = lo + l->count;
    if (hi > SB_LISTING_NAMES) /* (not the broker's doing: claim nothing) */
        return 1;
    while (lo < hi) {
        unsigned long mid = lo + (hi - lo) / 2;
        uint32_t v = ST->listed_names[mid];
        if (v == name)
            return 1;
        if (v < name)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Whether a listing shows that the absolute path names nothing, for `call`
 * (SB_LISTED_*).  A path with a "." or ".." component, a name longer than
 * NAME_MAX or no end within PATH_MAX is the broker's to answer (Linux may
 * say something else than ENOENT). */
int sb_listed_missing(const char *path, unsigned call)
{
    unsigned n = __atomic_load_n(&ST->nlistings, __ATOMIC_ACQUIRE);
    if (n == 0 || !SB_ARENA_OK(path, 1) || path[0] != '/')
        return 0;
    if (n > SB_LISTINGS)
        n = SB_LISTINGS;
    unsigned long room = ST->boot.arena_base + ST->boot.arena_size - (unsigned long)path, len = 0;
    while (len < room && len < PATH_MAX && path[len])
        len++;
    if (len >= room || len >= PATH_MAX)
        return 0;
    /* The directory walked so far, as the broker writes its path: "/",
     * "/usr", "/usr/lib", and its hash, extended a name at a time. */
    char dir[SB_STAT_PATH];
    unsigned long dlen = 1;
    dir[0] = '/';
    uint64_t h = sb_stat_hash("/", 1, 0);
    const struct sb_listing *missing_in = 0;
    for (unsigned long i = 0; i < len;) {
        while (i < len && path[i] == '/')
            i++;
        unsigned long s = i;
        while (i < len && path[i] != '/')
            i++;
        unsigned long nlen = i - s;
        if (nlen == 0)
            break;
        if (nlen > NAME_MAX || (path[s] == '.' && (nlen == 1 || (nlen == 2 && path[s + 1] == '.'))))
            return 0;
        if (!missing_in) {
            const struct sb_listing *l = dlen < SB_STAT_PATH ? listing_of(dir, dlen, h, n) : 0;
            if (l && (l->calls & call) && !listed(l, (uint32_t)sb_stat_hash(path + s, nlen, 0)))
                missing_in = l; /* (the rest of the path is still checked for long names) */
            else if (dlen + 1 + nlen < SB_STAT_PATH) {
                if (dlen > 1) {
                    dir[dlen++] = '/';
                    h = sb_hash_more(h, "/", 1);
                }
                memcpy(dir + dlen, path + s, nlen);
                h = sb_hash_more(h, path + s, nlen);
                dlen += nlen;
            } else
                dlen = SB_STAT_PATH; /* longer than any listing's path: none matches from here */
        }
    }
    return missing_in != 0;
}

static long access_call(struct sb_call *c, const char *path, unsigned long mode, unsigned long flags)
{
    if (!(mode & ~7UL) && !(flags & ~(unsigned long)(AT_EACCESS | AT_SYMLINK_NOFOLLOW)) &&
        sb_listed_missing(path, SB_LISTED_ACCESS))
        return -ENOENT;
    return sb_forward(c);
}

long sys_access(struct sb_call *c) { return access_call(c, (const char *)c->a[0], c->a[1], 0); }
long sys_faccessat(struct sb_call *c) { return access_call(c, (const char *)c->a[1], c->a[2], 0); }
long sys_faccessat2(struct sb_call *c)
{
    return access_call(c, (const char *)c->a[1], c->a[2], c->a[3] & 0xffffffffUL);
}
