/* The policy's disk limit (LIMIT bytes, argv[1]) across the writable mount
 * /data and the private /tmp: one line per step, "label value", value the
 * call's result or -ENAME.  See tests/test_policy_run.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char block[65536];

static void show(const char *label, long r)
{
    if (r < 0)
        printf("%s -%s\n", label, strerrorname_np(errno));
    else
        printf("%s %ld\n", label, r);
    fflush(stdout);
}

/* writes n bytes in 64 KiB blocks; the total written, and the errno that stopped it */
static long fill(int fd, long n, int *err)
{
    long total = 0;
    *err = 0;
    while (total < n) {
        long want = n - total < (long)sizeof block ? n - total : (long)sizeof block;
        long w = write(fd, block, want);
        if (w < 0) {
            *err = errno;
            break;
        }
        total += w;
    }
    return total;
}

static void show_fill(const char *label, int fd, long n)
{
    int err;
    long got = fill(fd, n, &err);
    printf("%s %ld %s\n", label, got, err ? strerrorname_np(err) : "ok");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long limit = atol(argv[1]);
    memset(block, 'x', sizeof block);
    int a = open("/data/a", O_RDWR | O_CREAT | O_TRUNC, 0644);
    /* up to the limit, the last write short, then ENOSPC */
    show_fill("fill_data", a, limit + 100000);
    show("size_a", lseek(a, 0, SEEK_END));
    /* the budget is shared with /tmp */
    int b = open("/tmp/b", O_RDWR | O_CREAT | O_TRUNC, 0644);
    show("write_tmp", write(b, block, 1));
    show("pwrite_tmp_far", pwrite(b, block, 1, 1 << 20));
    show("fallocate_tmp", fallocate(b, 0, 0, 4096));
    show("fallocate_keep_size", fallocate(b, FALLOC_FL_KEEP_SIZE, 0, 4096));
    show("ftruncate_up", ftruncate(a, limit + 1));
    show("truncate_up", truncate("/tmp/b", 10));
    /* overwriting what is there adds nothing */
    show("pwrite_inside", pwrite(a, block, 4096, 0));
    show("append_one", ({ int ap = open("/data/a", O_WRONLY | O_APPEND); long r = write(ap, block, 1); close(ap); r; }));
    /* a shorter file gives bytes back */
    show("ftruncate_half", ftruncate(a, limit / 2));
    show_fill("fill_tmp", b, limit);
    show("size_b", lseek(b, 0, SEEK_END));
    /* O_TRUNC and unlink give back too */
    close(b);
    b = open("/tmp/b", O_RDWR | O_TRUNC);
    show("unlink_a", unlink("/data/a"));
    close(a);
    show_fill("fill_after_give_back", b, limit + 1);
    /* an unlinked file the sandbox still holds gives its bytes back when closed */
    show("unlink_held", unlink("/tmp/b"));
    int c = open("/data/c", O_RDWR | O_CREAT | O_TRUNC, 0644);
    show("write_while_held", write(c, block, 1));
    close(b);
    show("write_after_close", write(c, block, 1));
    show_fill("fill_c", c, limit);
    /* renaming onto the last name of a file gives its bytes back */
    int d = open("/data/d", O_RDWR | O_CREAT | O_TRUNC, 0644);
    show("write_d", write(d, block, 1));
    close(c);
    show("rename_over", rename("/data/d", "/data/c"));
    show("write_d_after_rename", write(d, block, 1));
    return 0;
}
