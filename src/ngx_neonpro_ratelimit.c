
/*
 * Rate limits: the shared memory quota store, the access check and the
 * response fields.
 *
 * A zone contains one node per limit and key: the key's TAT, in a red-black
 * tree for lookup and a queue from the least recently used.  A node whose
 * TAT has passed is worth a fresh key, so it may go whenever memory is
 * needed.  Several limits of one request are taken under the locks of all
 * their zones at once, so that a request refused by one limit costs the
 * others nothing, and two workers never both take the last request.
 *
 * The fields follow the IETF httpapi draft "RateLimit header fields for
 * HTTP" (structured fields): RateLimit-Policy lists each quota with q
 * (requests) and w (window in seconds), RateLimit the remaining requests r
 * and the seconds t until the quota is whole again.
 */


#include "ngx_neonpro_error.h"
#include "ngx_neonpro_headers.h"
#include "ngx_neonpro_ratelimit.h"


#define NGX_NEONPRO_RATELIMIT_MAX      16     /* limits per location */
#define NGX_NEONPRO_RATELIMIT_KEY_MAX  1024


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    lru;
} ngx_neonpro_ratelimit_sh_t;


typedef struct {
    ngx_str_node_t                 sn;
    ngx_queue_t                    lru;
    uint64_t                       tat;
} ngx_neonpro_ratelimit_node_t;


typedef struct {
    ngx_neonpro_ratelimit_sh_t    *sh;
    ngx_slab_pool_t               *shpool;
} ngx_neonpro_ratelimit_ctx_t;


static ngx_int_t ngx_neonpro_ratelimit_shm_take(
    ngx_neonpro_ratelimit_take_t *takes, ngx_uint_t n, uint64_t now);
static void ngx_neonpro_ratelimit_counted(void *data);


ngx_neonpro_ratelimit_store_t  ngx_neonpro_ratelimit_shm = {
    ngx_neonpro_ratelimit_shm_take
};


static ngx_int_t
ngx_neonpro_ratelimit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t              *shpool;
    ngx_neonpro_ratelimit_ctx_t  *ctx, *octx;

    ctx = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data) {
        /* a reload keeps the counts */
        octx = data;
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = shpool;

    if (shm_zone->shm.exists) {
        ctx->sh = shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(shpool, sizeof(ngx_neonpro_ratelimit_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&ctx->sh->lru);

    return NGX_OK;
}


/* neonpro_rate_limit_zone name size; */
char *
ngx_neonpro_ratelimit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t                       size;
    ngx_str_t                    *value;
    ngx_shm_zone_t               *zone;
    ngx_neonpro_ratelimit_ctx_t  *ctx;

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"%V\" directive, "
                           "expected a size of at least %uzk such as 1m",
                           &value[2], &cmd->name, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_neonpro_ratelimit_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    zone = ngx_shared_memory_add(cf, &value[1], size, &ngx_neonpro_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "rate limit zone \"%V\" is already defined",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    zone->init = ngx_neonpro_ratelimit_init_zone;
    zone->data = ctx;

    return NGX_CONF_OK;
}


/* Parses "N/period", a quota such as 100/15m or 20/1m. */
static ngx_int_t
ngx_neonpro_ratelimit_parse_rate(ngx_str_t *s, ngx_neonpro_gcra_policy_t *p)
{
    u_char     *slash;
    ngx_int_t   limit, window;
    ngx_str_t   period;

    slash = ngx_strlchr(s->data, s->data + s->len, '/');
    if (slash == NULL) {
        return NGX_ERROR;
    }

    limit = ngx_atoi(s->data, slash - s->data);

    period.data = slash + 1;
    period.len = s->data + s->len - period.data;

    window = ngx_parse_time(&period, 0);

    /* a year at most, and no more than a request per nanosecond */

    if (limit <= 0 || limit > 1000000000
        || window == NGX_ERROR || window <= 0
        || window > 366 * 86400 * 1000LL)
    {
        return NGX_ERROR;
    }

    p->limit = (uint64_t) limit;
    p->window = (uint64_t) window;

    return NGX_OK;
}


/* neonpro_rate_limit name zone=zone key=value rate=N/period; */
char *
ngx_neonpro_ratelimit_add(ngx_conf_t *cf, ngx_array_t **limits)
{
    u_char                            *p;
    ngx_str_t                         *value, s, zone_name, key;
    ngx_uint_t                         i;
    ngx_neonpro_ratelimit_t           *limit, *other;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (*limits == NULL || *limits == NGX_CONF_UNSET_PTR) {
        *limits = ngx_array_create(cf->pool, 2,
                                   sizeof(ngx_neonpro_ratelimit_t));
        if (*limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if ((*limits)->nelts == NGX_NEONPRO_RATELIMIT_MAX) {
        return "has too many limits in one location";
    }

    limit = ngx_array_push(*limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(limit, sizeof(ngx_neonpro_ratelimit_t));

    /* the name goes into a structured-field string: keep it plain */

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(isalnum(*p) || *p == '-' || *p == '_' || *p == '.')) {
            break;
        }
    }

    if (value[1].len == 0 || value[1].len > 64
        || p != value[1].data + value[1].len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate limit name \"%V\", expected up to "
                           "64 letters, digits, \"-\", \"_\" or \".\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    limit->name = value[1];

    ngx_str_null(&zone_name);
    ngx_str_null(&key);

    for (i = 2; i < cf->args->nelts; i++) {
        s = value[i];

        if (s.len > 5 && ngx_strncmp(s.data, "zone=", 5) == 0) {
            zone_name.data = s.data + 5;
            zone_name.len = s.len - 5;
            continue;
        }

        if (s.len > 4 && ngx_strncmp(s.data, "key=", 4) == 0) {
            key.data = s.data + 4;
            key.len = s.len - 4;
            continue;
        }

        if (s.len > 5 && ngx_strncmp(s.data, "rate=", 5) == 0) {
            s.data += 5;
            s.len -= 5;

            if (ngx_neonpro_ratelimit_parse_rate(&s, &limit->policy)
                != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\", expected requests "
                                   "per period such as 100/15m or 20/1m",
                                   &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected zone=, key= "
                           "or rate=", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (zone_name.len == 0 || key.len == 0 || limit->policy.limit == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "rate limit \"%V\" needs zone=, key= and rate=",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    other = (*limits)->elts;

    for (i = 0; i + 1 < (*limits)->nelts; i++) {
        if (other[i].name.len == limit->name.len
            && ngx_strncmp(other[i].name.data, limit->name.data,
                           limit->name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "rate limit \"%V\" is duplicate", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    limit->zone = ngx_shared_memory_add(cf, &zone_name, 0,
                                        &ngx_neonpro_module);
    if (limit->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &key;
    ccv.complex_value = &limit->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* Frees nodes from the least recently used while their TAT has passed. */
static void
ngx_neonpro_ratelimit_expire(ngx_neonpro_ratelimit_ctx_t *ctx, uint64_t now,
    ngx_uint_t force)
{
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_neonpro_ratelimit_node_t  *node;

    for (n = 0; n < 3 && !ngx_queue_empty(&ctx->sh->lru); n++) {
        q = ngx_queue_last(&ctx->sh->lru);
        node = ngx_queue_data(q, ngx_neonpro_ratelimit_node_t, lru);

        /* forced, the oldest key goes even if it still owes requests */

        if (node->tat > now && !(force && n == 0)) {
            return;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&ctx->sh->rbtree, &node->sn.node);
        ngx_slab_free_locked(ctx->shpool, node);
    }
}


static ngx_neonpro_ratelimit_node_t *
ngx_neonpro_ratelimit_node(ngx_neonpro_ratelimit_ctx_t *ctx, ngx_str_t *key,
    uint64_t now)
{
    uint32_t                       hash;
    ngx_neonpro_ratelimit_node_t  *node;

    hash = ngx_crc32_short(key->data, key->len);

    node = (ngx_neonpro_ratelimit_node_t *)
               ngx_str_rbtree_lookup(&ctx->sh->rbtree, key, hash);

    if (node) {
        ngx_queue_remove(&node->lru);
        ngx_queue_insert_head(&ctx->sh->lru, &node->lru);
        return node;
    }

    ngx_neonpro_ratelimit_expire(ctx, now, 0);

    node = ngx_slab_alloc_locked(ctx->shpool,
                                 sizeof(ngx_neonpro_ratelimit_node_t)
                                 + key->len);
    if (node == NULL) {
        ngx_neonpro_ratelimit_expire(ctx, now, 1);

        node = ngx_slab_alloc_locked(ctx->shpool,
                                     sizeof(ngx_neonpro_ratelimit_node_t)
                                     + key->len);
        if (node == NULL) {
            return NULL;
        }
    }

    node->sn.str.data = (u_char *) (node + 1);
    node->sn.str.len = key->len;
    ngx_memcpy(node->sn.str.data, key->data, key->len);
    node->sn.node.key = hash;
    node->tat = 0;

    ngx_rbtree_insert(&ctx->sh->rbtree, &node->sn.node);
    ngx_queue_insert_head(&ctx->sh->lru, &node->lru);

    return node;
}


/*
 * The zones are locked in address order, each once, so that two workers
 * taking the same zones never wait for each other in a circle.
 */
static ngx_int_t
ngx_neonpro_ratelimit_shm_take(ngx_neonpro_ratelimit_take_t *takes,
    ngx_uint_t n, uint64_t now)
{
    ngx_int_t                      rc;
    ngx_uint_t                     i, j, nzones;
    ngx_shm_zone_t                *zones[NGX_NEONPRO_RATELIMIT_MAX], *z;
    ngx_neonpro_ratelimit_ctx_t   *ctx;
    ngx_neonpro_ratelimit_node_t  *nodes[NGX_NEONPRO_RATELIMIT_MAX];

    nzones = 0;

    for (i = 0; i < n; i++) {
        z = takes[i].limit->zone;

        for (j = 0; j < nzones && zones[j] != z; j++) { /* void */ }

        if (j < nzones) {
            continue;
        }

        /* insertion into the sorted list */

        for (j = nzones; j > 0 && zones[j - 1] > z; j--) {
            zones[j] = zones[j - 1];
        }

        zones[j] = z;
        nzones++;
    }

    for (i = 0; i < nzones; i++) {
        ctx = zones[i]->data;
        ngx_shmtx_lock(&ctx->shpool->mutex);
    }

    rc = NGX_OK;

    for (i = 0; i < n; i++) {
        nodes[i] = ngx_neonpro_ratelimit_node(takes[i].limit->zone->data,
                                              &takes[i].key, now);
        if (nodes[i] == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_neonpro_gcra(&takes[i].limit->policy, nodes[i]->tat, now,
                         &takes[i].result);

        if (!takes[i].result.allowed) {
            rc = NGX_DECLINED;
        }
    }

    if (rc == NGX_OK) {
        for (i = 0; i < n; i++) {
            nodes[i]->tat = takes[i].result.tat;
        }

    } else if (rc == NGX_DECLINED) {

        /* nothing was taken: the allowed ones show what they still have */

        for (i = 0; i < n; i++) {
            if (takes[i].result.allowed) {
                ngx_neonpro_gcra_peek(&takes[i].limit->policy, nodes[i]->tat,
                                      now, &takes[i].result);
            }
        }
    }

    for (i = nzones; i > 0; i--) {
        ctx = zones[i - 1]->data;
        ngx_shmtx_unlock(&ctx->shpool->mutex);
    }

    return rc;
}


/* The response fields, with their lowercase names for other filters. */
enum {
    NGX_NEONPRO_RATELIMIT_POLICY = 0,
    NGX_NEONPRO_RATELIMIT_STATE,
    NGX_NEONPRO_RATELIMIT_X_LIMIT,
    NGX_NEONPRO_RATELIMIT_X_REMAINING,
    NGX_NEONPRO_RATELIMIT_X_RESET,
    NGX_NEONPRO_RATELIMIT_RETRY_AFTER
};


static ngx_str_t  ngx_neonpro_ratelimit_names[][2] = {
    { ngx_string("RateLimit-Policy"), ngx_string("ratelimit-policy") },
    { ngx_string("RateLimit"), ngx_string("ratelimit") },
    { ngx_string("X-RateLimit-Limit"), ngx_string("x-ratelimit-limit") },
    { ngx_string("X-RateLimit-Remaining"),
      ngx_string("x-ratelimit-remaining") },
    { ngx_string("X-RateLimit-Reset"), ngx_string("x-ratelimit-reset") },
    { ngx_string("Retry-After"), ngx_string("retry-after") }
};


static ngx_int_t
ngx_neonpro_ratelimit_push(ngx_http_request_t *r, ngx_uint_t field,
    u_char *start, u_char *end)
{
    ngx_str_t  value;

    value.data = start;
    value.len = end - start;

    if (ngx_neonpro_headers_push(r, &ngx_neonpro_ratelimit_names[field][0],
                                 &ngx_neonpro_ratelimit_names[field][1],
                                 &value)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Adds RateLimit-Policy and RateLimit, or the X-RateLimit trio, or both. */
static ngx_int_t
ngx_neonpro_ratelimit_fields(ngx_http_request_t *r,
    ngx_neonpro_ratelimit_take_t *takes, ngx_uint_t n, ngx_uint_t headers)
{
    u_char                        *policy, *state, *p, *q;
    size_t                         size;
    ngx_uint_t                     i, tight;
    ngx_neonpro_ratelimit_take_t  *t;

    if (headers & NGX_NEONPRO_RATELIMIT_HEADERS_DRAFT) {
        size = 0;

        for (i = 0; i < n; i++) {
            size += takes[i].limit->name.len + 3 * NGX_INT64_LEN + 16;
        }

        policy = ngx_pnalloc(r->pool, size);
        state = ngx_pnalloc(r->pool, size);
        if (policy == NULL || state == NULL) {
            return NGX_ERROR;
        }

        p = policy;
        q = state;

        for (i = 0; i < n; i++) {
            t = &takes[i];

            if (i) {
                p = ngx_cpymem(p, ", ", 2);
                q = ngx_cpymem(q, ", ", 2);
            }

            p = ngx_sprintf(p, "\"%V\";q=%uL;w=%uL", &t->limit->name,
                            t->limit->policy.limit,
                            (t->limit->policy.window + 999) / 1000);

            q = ngx_sprintf(q, "\"%V\";r=%uL;t=%uL", &t->limit->name,
                            t->result.remaining,
                            (t->result.reset + 999) / 1000);
        }

        if (ngx_neonpro_ratelimit_push(r, NGX_NEONPRO_RATELIMIT_POLICY,
                                       policy, p)
            != NGX_OK
            || ngx_neonpro_ratelimit_push(r, NGX_NEONPRO_RATELIMIT_STATE,
                                          state, q)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!(headers & NGX_NEONPRO_RATELIMIT_HEADERS_LEGACY)) {
        return NGX_OK;
    }

    /* the trio has room for one quota: the one closest to its end */

    tight = 0;

    for (i = 1; i < n; i++) {
        if (takes[i].result.remaining < takes[tight].result.remaining) {
            tight = i;
        }
    }

    t = &takes[tight];

    p = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    q = ngx_sprintf(p, "%uL", t->limit->policy.limit);

    if (ngx_neonpro_ratelimit_push(r, NGX_NEONPRO_RATELIMIT_X_LIMIT, p, q)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = q;
    q = ngx_sprintf(p, "%uL", t->result.remaining);

    if (ngx_neonpro_ratelimit_push(r, NGX_NEONPRO_RATELIMIT_X_REMAINING, p,
                                   q)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = q;
    q = ngx_sprintf(p, "%uL", (t->result.reset + 999) / 1000);

    return ngx_neonpro_ratelimit_push(r, NGX_NEONPRO_RATELIMIT_X_RESET, p, q);
}


/* The marker of a request that was counted already, see below. */
static void
ngx_neonpro_ratelimit_counted(void *data)
{
}


/*
 * The access check: NGX_DECLINED to go on, a 429 when a limit refuses.
 * An internal redirect runs the access phase again on the same request
 * pool, so a pool cleanup marks a request that was counted already.
 */
ngx_int_t
ngx_neonpro_ratelimit_check(ngx_http_request_t *r, ngx_array_t *limits,
    ngx_uint_t headers)
{
    u_char                        *p;
    uint64_t                       now, retry;
    ngx_int_t                      rc;
    ngx_str_t                      value;
    ngx_uint_t                     i, n;
    ngx_time_t                    *tp;
    ngx_pool_cleanup_t            *cln;
    ngx_neonpro_ratelimit_t       *limit;
    ngx_neonpro_ratelimit_take_t   takes[NGX_NEONPRO_RATELIMIT_MAX];

    if (limits == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_neonpro_ratelimit_counted) {
            return NGX_DECLINED;
        }
    }

    limit = limits->elts;
    n = 0;

    for (i = 0; i < limits->nelts; i++) {
        if (ngx_http_complex_value(r, &limit[i].key, &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* an empty key is not limited, as with limit_req */

        if (value.len == 0) {
            continue;
        }

        if (value.len > NGX_NEONPRO_RATELIMIT_KEY_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "neonpro: the key of rate limit \"%V\" is %uz "
                          "bytes, more than %d; the request is refused",
                          &limit[i].name, value.len,
                          NGX_NEONPRO_RATELIMIT_KEY_MAX);
            return ngx_neonpro_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "RATE_LIMITED", NULL);
        }

        /* the limit's name keeps its keys apart from another limit's */

        p = ngx_pnalloc(r->pool, limit[i].name.len + 1 + value.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        takes[n].limit = &limit[i];
        takes[n].key.data = p;
        p = ngx_cpymem(p, limit[i].name.data, limit[i].name.len);
        *p++ = '\0';
        p = ngx_cpymem(p, value.data, value.len);
        takes[n].key.len = p - takes[n].key.data;
        n++;
    }

    if (n == 0) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_neonpro_ratelimit_counted;

    tp = ngx_timeofday();
    now = ((uint64_t) tp->sec * 1000 + tp->msec) * 1000000;

    rc = ngx_neonpro_ratelimit_shm.take(takes, n, now);

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "neonpro: a rate limit zone is full; the request "
                      "passes uncounted");
        return NGX_DECLINED;
    }

    if (ngx_neonpro_ratelimit_fields(r, takes, n, headers) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        return NGX_DECLINED;
    }

    retry = 0;

    for (i = 0; i < n; i++) {
        if (!takes[i].result.allowed) {
            retry = ngx_max(retry, takes[i].result.retry_after);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "neonpro: rate limit \"%V\" refused the request",
                          &takes[i].limit->name);
        }
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_neonpro_ratelimit_push(r, NGX_NEONPRO_RATELIMIT_RETRY_AFTER, p,
                                   ngx_sprintf(p, "%uL", (retry + 999) / 1000))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_neonpro_error(r, NGX_HTTP_TOO_MANY_REQUESTS, "RATE_LIMITED",
                             NULL);
}


/*
 * Rejects a configuration whose neonpro_rate_limit names a zone that no
 * neonpro_rate_limit_zone defines.  The message names the missing
 * directive, where nginx's own would only report a zero size zone.
 */
ngx_int_t
ngx_neonpro_ratelimit_check_zones(ngx_conf_t *cf)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    part = &cf->cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_neonpro_module && zone[i].shm.size == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "rate limit zone \"%V\" is used but not defined: "
                          "add \"neonpro_rate_limit_zone %V size;\" to the "
                          "http block", &zone[i].shm.name,
                          &zone[i].shm.name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
