/* Loads libm a second time, in a namespace of its own (dlmopen), so ld.so
 * maps the file again after its start took the first mapping, and calls
 * both copies: each must be the library itself. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>

int main(void)
{
    void *again = dlmopen(LM_ID_NEWLM, "libm.so.6", RTLD_NOW);
    if (!again) {
        printf("dlmopen: %s\n", dlerror());
        return 1;
    }
    double (*cos_again)(double) = (double (*)(double))dlsym(again, "cos");
    volatile double x = 0.5;
    printf("%.17g %.17g\n", cos(x), cos_again ? cos_again(x) : -1.0);
    return 0;
}
