/* Allocates and touches 1 MiB chunks until malloc fails; prints how many. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long max = argc > 1 ? atol(argv[1]) : 1L << 30;
    long count = 0;
    for (; count < max; count++) {
        char *p = malloc(1 << 20);
        if (!p)
            break;
        memset(p, 0xa5, 1 << 20);
    }
    void *huge = malloc(1UL << 40); /* far beyond any arena */
    printf("chunks %ld huge %s\n", count, huge ? "granted" : "refused");
    return 0;
}
