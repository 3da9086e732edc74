/* sysinfo as the sandbox shows it: "sysinfo N": N calls, then one line of
 * what the last one said (its uptime, RAM total and free, procs, swap, unit). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    struct sysinfo s = {0};
    int r = 0;
    for (int i = 0; i < n; i++)
        r |= sysinfo(&s);
    printf("r %d uptime %ld total %lu free %lu procs %u swap %lu unit %u\n",
           r, s.uptime, s.totalram, s.freeram, s.procs, s.totalswap, s.mem_unit);
    return 0;
}
