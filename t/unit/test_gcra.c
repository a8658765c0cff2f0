
/*
 * Unit tests of the GCRA arithmetic: a quota admits exactly its limit at
 * once, then one request per emission interval, and is whole again after a
 * window of silence.  The tests end with the line "N passed, N failed".
 */


#include <stdio.h>

#include "check.h"
#include "ngx_neonpro_gcra.h"


#define MS  1000000ULL


/* Sends n requests at time now (ns) and returns how many were allowed. */
static uint64_t
burst(const ngx_neonpro_gcra_policy_t *p, uint64_t *tat, uint64_t now,
    uint64_t n, ngx_neonpro_gcra_result_t *last)
{
    uint64_t  i, allowed;

    allowed = 0;

    for (i = 0; i < n; i++) {
        ngx_neonpro_gcra(p, *tat, now, last);

        if (last->allowed) {
            allowed++;
        }

        *tat = last->tat;
    }

    return allowed;
}


static void
test_quota(uint64_t limit, uint64_t window)
{
    char                       name[128];
    uint64_t                   tat, now, allowed;
    ngx_neonpro_gcra_policy_t  p = { limit, window };
    ngx_neonpro_gcra_result_t  r;

    now = 1796400000000ULL * MS;
    tat = 0;

    allowed = burst(&p, &tat, now, limit * 2, &r);

    snprintf(name, sizeof(name), "%llu/%llu ms: a burst gets the limit",
             (unsigned long long) limit, (unsigned long long) window);
    CHECK(allowed == limit, name);

    snprintf(name, sizeof(name), "%llu/%llu ms: none left after the burst",
             (unsigned long long) limit, (unsigned long long) window);
    CHECK(r.remaining == 0, name);

    snprintf(name, sizeof(name), "%llu/%llu ms: retry after one interval",
             (unsigned long long) limit, (unsigned long long) window);
    CHECK(r.retry_after == (window + limit - 1) / limit, name);

    snprintf(name, sizeof(name), "%llu/%llu ms: whole again after the window",
             (unsigned long long) limit, (unsigned long long) window);
    CHECK(r.reset == window, name);

    /* one interval later exactly one more request passes */

    now += (window * MS) / limit + 1;
    allowed = burst(&p, &tat, now, 3, &r);

    snprintf(name, sizeof(name), "%llu/%llu ms: one per interval",
             (unsigned long long) limit, (unsigned long long) window);
    CHECK(allowed == 1, name);

    /* after a whole window of silence the quota is full again */

    now += window * MS;
    allowed = burst(&p, &tat, now, limit + 1, &r);

    snprintf(name, sizeof(name), "%llu/%llu ms: full quota after silence",
             (unsigned long long) limit, (unsigned long long) window);
    CHECK(allowed == limit, name);
}


static void
test_remaining_counts_down(void)
{
    uint64_t                   i, tat, now;
    ngx_neonpro_gcra_policy_t  p = { 5, 60000 };
    ngx_neonpro_gcra_result_t  r;

    now = 1000 * MS;
    tat = 0;

    for (i = 0; i < 5; i++) {
        ngx_neonpro_gcra(&p, tat, now, &r);
        tat = r.tat;
        CHECK(r.allowed, "each of the first five is allowed");
        CHECK(r.remaining == 4 - i, "remaining counts down by one");
        CHECK(r.reset == (i + 1) * 12000, "reset grows by one interval");
    }
}


static void
test_refused_request_changes_nothing(void)
{
    uint64_t                   tat, now;
    ngx_neonpro_gcra_policy_t  p = { 1, 1000 };
    ngx_neonpro_gcra_result_t  r;

    now = 5000 * MS;
    ngx_neonpro_gcra(&p, 0, now, &r);
    tat = r.tat;

    ngx_neonpro_gcra(&p, tat, now + 400 * MS, &r);
    CHECK(!r.allowed, "a second request inside the window is refused");
    CHECK(r.tat == tat, "a refused request leaves the TAT alone");
    CHECK(r.retry_after == 600, "retry after the rest of the interval");
}


static void
test_peek_takes_nothing(void)
{
    uint64_t                   now;
    ngx_neonpro_gcra_policy_t  p = { 5, 60000 };
    ngx_neonpro_gcra_result_t  taken, peeked;

    now = 1000 * MS;

    ngx_neonpro_gcra(&p, 0, now, &taken);
    ngx_neonpro_gcra(&p, taken.tat, now, &taken);
    ngx_neonpro_gcra_peek(&p, taken.tat, now, &peeked);

    CHECK(peeked.allowed, "a peek at a key with room says allowed");
    CHECK(peeked.tat == taken.tat, "a peek leaves the TAT alone");
    CHECK(peeked.remaining == 3, "a peek counts what is left");
    CHECK(peeked.reset == 24000, "a peek's reset is the time owed so far");

    ngx_neonpro_gcra_peek(&p, now + 60000 * MS, now, &peeked);
    CHECK(!peeked.allowed, "a peek at a spent key says refused");
    CHECK(peeked.retry_after == 12000, "a spent key waits one interval");
}


int
main(void)
{
    /* the platform's defaults, and quotas whose interval is not whole */

    test_quota(50, 15 * 60 * 1000);
    test_quota(20, 60 * 1000);
    test_quota(10, 15 * 60 * 1000);
    test_quota(100, 15 * 60 * 1000);
    test_quota(3, 1000);
    test_quota(7, 1000);
    test_quota(1, 1);

    test_remaining_counts_down();
    test_refused_request_changes_nothing();
    test_peek_takes_nothing();

    printf("%d passed, %d failed\n", passed, failed);

    return failed ? 1 : 0;
}
