/* A plain static C program: stdio, malloc, time, random, exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    printf("hello from %s with %d args\n", argv[0], argc);
    char *big = malloc(8 << 20); /* mmap-backed */
    memset(big, 'x', 8 << 20);
    char *small = malloc(100);   /* brk-backed */
    strcpy(small, "heap ok");
    puts(small);
    free(big);
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > 1600000000)
        puts("clock ok");
    unsigned char r[32];
    if (getrandom(r, sizeof r, 0) == sizeof r)
        puts("random ok");
    printf("pid %d uid %d\n", getpid(), getuid());
    fflush(stdout);
    return argc > 1 ? atoi(argv[1]) : 0;
}
