
/*
 * Identity for HTTP locations and the chat handshake.
 *
 * The check runs in the preaccess phase, before the legal-basis check and
 * the rate limits of the access phase, so both can use the identity.  The
 * token comes from "Authorization: Bearer", then from the configured
 * cookie, then, on a WebSocket handshake, from a "bearer.<token>" entry of
 * Sec-WebSocket-Protocol, which is how browsers can send one.  Never from
 * the query string: nginx logs request lines.
 *
 * Verified tokens are kept per worker and location in a direct-mapped
 * cache until their "exp", so that a busy client pays one signature check
 * per token instead of one per request.  A slot is picked by a MurmurHash2
 * of the token and contains a copy of it.  A hit needs the same bytes, so a
 * crafted hash collision only ever misses.  The copies are wiped when they
 * leave the cache.
 */


#include <curl/curl.h>

#include "ngx_neonpro_auth.h"
#include "ngx_neonpro_curl.h"
#include "ngx_neonpro_error.h"
#include "ngx_neonpro_headers.h"


#define NGX_NEONPRO_AUTH_JWKS_MAX     (1024 * 1024)
#define NGX_NEONPRO_AUTH_RETRY_MAX    60000


#define NGX_NEONPRO_AUTH_NO_EXP  ((time_t) -1)


typedef struct {
    u_char                     *token;        /* from ngx_alloc() */
    size_t                      len;
    json_t                     *claims;
    time_t                      exp;
    ngx_uint_t                  generation;   /* of the remote key set */
} ngx_neonpro_auth_cached_t;


/* the per-worker cache of one location, made on its first use */
typedef struct ngx_neonpro_auth_cache_s  ngx_neonpro_auth_cache_t;

struct ngx_neonpro_auth_cache_s {
    ngx_neonpro_auth_cached_t  *entries;
    ngx_uint_t                  size;
    ngx_neonpro_auth_cache_t   *next;        /* this worker's caches */
};


static ngx_neonpro_auth_cache_t  *ngx_neonpro_auth_caches;


/* the reasons of ngx_neonpro_jwt_verify() for a client in Portuguese */
static const char  *ngx_neonpro_auth_reasons_pt[] = {
    "ok",
    "token grande demais",
    "token malformado",
    "base64url inválido",
    "cabeçalho inválido",
    "algoritmo \"none\" não é aceito",
    "algoritmo não suportado",
    "algoritmo não permitido",
    "kid inválido",
    "conteúdo inválido",
    "kid desconhecido",
    "nenhuma chave para o emissor",
    "kid obrigatório",
    "o tipo da chave não corresponde ao algoritmo",
    "assinatura inválida",
    "claim inválida",
    "token expirado",
    "token ainda não válido",
    "token emitido no futuro",
    "emissor incorreto",
    "audiência incorreta",
    "claim obrigatória ausente",
    "sem memória",
    "erro de criptografia"
};


static ngx_str_t  ngx_neonpro_auth_www = ngx_string("WWW-Authenticate");
static ngx_str_t  ngx_neonpro_auth_www_lc = ngx_string("www-authenticate");


static void ngx_neonpro_auth_free_keys(void *data);
static void ngx_neonpro_auth_free_claims(void *data);
static void ngx_neonpro_auth_cache_drop(ngx_neonpro_auth_cached_t *e);
static void ngx_neonpro_auth_fetch(ngx_event_t *ev);
static void ngx_neonpro_auth_fetched(void *data, CURLcode result);


void
ngx_neonpro_auth_init_conf(ngx_neonpro_auth_conf_t *conf)
{
    conf->mode = NGX_CONF_UNSET_UINT;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->remote = NGX_CONF_UNSET_PTR;
    conf->algorithms = NGX_CONF_UNSET_UINT;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->required = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->max_size = NGX_CONF_UNSET_SIZE;
    conf->cache_size = NGX_CONF_UNSET_UINT;
    conf->roles = NGX_CONF_UNSET_PTR;
}


char *
ngx_neonpro_auth_merge_conf(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *prev,
    ngx_neonpro_auth_conf_t *conf)
{
    ngx_conf_merge_uint_value(conf->mode, prev->mode, NGX_NEONPRO_AUTH_OFF);
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_ptr_value(conf->remote, prev->remote, NULL);
    ngx_conf_merge_uint_value(conf->algorithms, prev->algorithms,
                              NGX_NEONPRO_JWT_ALG_ALL);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_ptr_value(conf->required, prev->required, NULL);
    ngx_conf_merge_value(conf->leeway, prev->leeway, 30);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size,
                              NGX_NEONPRO_JWT_MAX_SIZE_DEFAULT);
    ngx_conf_merge_str_value(conf->cookie, prev->cookie, "");
    ngx_conf_merge_uint_value(conf->cache_size, prev->cache_size, 1024);
    ngx_conf_merge_str_value(conf->claim_user, prev->claim_user, "sub");
    ngx_conf_merge_str_value(conf->claim_clinic, prev->claim_clinic,
                             "clinic_id");
    ngx_conf_merge_str_value(conf->claim_role, prev->claim_role, "role");
    ngx_conf_merge_ptr_value(conf->roles, prev->roles, NULL);

    if (conf->mode != NGX_NEONPRO_AUTH_OFF
        && conf->keys == NULL && conf->remote == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "neonpro_auth_jwt needs at least one "
                           "neonpro_auth_jwt_key or a "
                           "neonpro_auth_jwt_jwks_url");
        return NGX_CONF_ERROR;
    }

    if (conf->roles && conf->mode == NGX_NEONPRO_AUTH_OFF) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "neonpro_require_role needs neonpro_auth_jwt "
                           "required or optional");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_neonpro_auth_free_keys(void *data)
{
    ngx_neonpro_jwt_keyset_free(data);
}


/*
 * neonpro_auth_jwt_key file [issuer=iss] [kid=id];
 *
 * The file's content decides its kind: a PEM key or certificate, a JWK
 * Set (a JSON object), or else an HMAC secret.
 */
char *
ngx_neonpro_auth_key(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *acf)
{
    int                      rc;
    u_char                  *p;
    ssize_t                  n;
    ngx_str_t               *value, file;
    ngx_uint_t               i;
    ngx_file_t               f;
    ngx_file_info_t          fi;
    ngx_pool_cleanup_t      *cln;
    ngx_neonpro_jwt_str_t    issuer, kid;
    ngx_neonpro_jwt_load_t   report;

    value = cf->args->elts;
    file = value[1];

    ngx_memzero(&issuer, sizeof(issuer));
    ngx_memzero(&kid, sizeof(kid));

    for (i = 2; i < cf->args->nelts; i++) {
        if (value[i].len > 7
            && ngx_strncmp(value[i].data, "issuer=", 7) == 0)
        {
            issuer.data = value[i].data + 7;
            issuer.len = value[i].len - 7;
            continue;
        }

        if (value[i].len > 4 && ngx_strncmp(value[i].data, "kid=", 4) == 0) {
            kid.data = value[i].data + 4;
            kid.len = value[i].len - 4;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected issuer= or "
                           "kid=", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));

    f.name = file;
    f.log = cf->log;
    f.fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (f.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(f.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is not a readable file of at "
                           "most 1 MiB", &file);
        (void) ngx_close_file(f.fd);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi) + 1);
    if (p == NULL) {
        (void) ngx_close_file(f.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&f, p, ngx_file_size(&fi), 0);
    (void) ngx_close_file(f.fd);

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" could not be read", &file);
        return NGX_CONF_ERROR;
    }

    if (acf->keys == NGX_CONF_UNSET_PTR || acf->keys == NULL) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        acf->keys = ngx_neonpro_jwt_keyset_create();
        if (acf->keys == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_neonpro_auth_free_keys;
        cln->data = acf->keys;
    }

    ngx_memzero(&report, sizeof(report));

    if (n > 10 && ngx_strncmp(p, "-----BEGIN", 10) == 0) {
        rc = ngx_neonpro_jwt_keyset_add_pem(acf->keys, p, n, &issuer, &kid,
                                            &report);

    } else if (n > 0 && p[0] == '{') {
        if (kid.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"kid=\" does not apply to the JWK Set in "
                               "\"%V\": its keys name their own", &file);
            return NGX_CONF_ERROR;
        }

        rc = ngx_neonpro_jwt_keyset_add_jwks(acf->keys, p, n, &issuer,
                                             &report);

    } else {
        rc = ngx_neonpro_jwt_keyset_add_secret(acf->keys, p, n, &issuer,
                                               &kid, &report);
    }

    /* the secret's bytes leave the configuration's memory at once */
    ngx_explicit_memzero(p, n);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%V\": %s", &file,
                           report.error ? report.error : "not a key");
        return NGX_CONF_ERROR;
    }

    if (report.skipped) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%uz keys of \"%V\" were skipped, the first "
                           "(index %uz) because: %s", report.skipped, &file,
                           report.skip_index, report.skip_reason);
    }

    return NGX_CONF_OK;
}


/* neonpro_auth_jwt_jwks_url URL [issuer=iss] [interval=time]; */
char *
ngx_neonpro_auth_jwks_url(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *acf,
    ngx_array_t *remotes)
{
    char                        *rv;
    ngx_int_t                    interval;
    ngx_str_t                   *value, s;
    ngx_uint_t                   i;
    ngx_neonpro_auth_remote_t   *remote, **slot;

    if (acf->remote != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    remote = ngx_pcalloc(cf->pool, sizeof(ngx_neonpro_auth_remote_t));
    if (remote == NULL) {
        return NGX_CONF_ERROR;
    }

    remote->interval = 300000;

    for (i = 2; i < cf->args->nelts; i++) {
        s = value[i];

        if (s.len > 7 && ngx_strncmp(s.data, "issuer=", 7) == 0) {
            remote->issuer.data = s.data + 7;
            remote->issuer.len = s.len - 7;
            continue;
        }

        if (s.len > 9 && ngx_strncmp(s.data, "interval=", 9) == 0) {
            s.data += 9;
            s.len -= 9;

            interval = ngx_parse_time(&s, 0);

            if (interval == NGX_ERROR || interval < 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid interval \"%V\", expected a "
                                   "time of at least 1s such as 5m", &s);
                return NGX_CONF_ERROR;
            }

            remote->interval = (ngx_msec_t) interval;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected issuer= or "
                           "interval=", &value[i]);
        return NGX_CONF_ERROR;
    }

    rv = ngx_neonpro_curl_set_url(cf, &value[1], "JWKS", &remote->url,
                                  &remote->resolve);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    slot = ngx_array_push(remotes);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = remote;
    acf->remote = remote;

    return NGX_CONF_OK;
}


/* Each worker fetches its JWK Sets at once, then every interval. */
ngx_int_t
ngx_neonpro_auth_init_process(ngx_cycle_t *cycle, ngx_array_t *remotes)
{
    ngx_uint_t                   i;
    ngx_neonpro_auth_remote_t  **remote;

    remote = remotes->elts;

    for (i = 0; i < remotes->nelts; i++) {
        remote[i]->timer.handler = ngx_neonpro_auth_fetch;
        remote[i]->timer.data = remote[i];
        remote[i]->timer.log = cycle->log;

        /* a worker that stops does not wait for the next refresh */
        remote[i]->timer.cancelable = 1;

        ngx_add_timer(&remote[i]->timer, 1);
    }

    return NGX_OK;
}


void
ngx_neonpro_auth_exit_process(ngx_array_t *remotes)
{
    ngx_uint_t                   i;
    ngx_neonpro_auth_cache_t    *cache;
    ngx_neonpro_auth_remote_t  **remote;

    /* the worker's token caches, and the claims they hold */

    while (ngx_neonpro_auth_caches) {
        cache = ngx_neonpro_auth_caches;
        ngx_neonpro_auth_caches = cache->next;

        for (i = 0; i < cache->size; i++) {
            ngx_neonpro_auth_cache_drop(&cache->entries[i]);
        }

        ngx_free(cache);
    }

    remote = remotes->elts;

    for (i = 0; i < remotes->nelts; i++) {
        if (remote[i]->easy) {
            ngx_neonpro_curl_remove(remote[i]->easy);
            curl_easy_cleanup(remote[i]->easy);
            remote[i]->easy = NULL;
        }

        if (remote[i]->timer.timer_set) {
            ngx_del_timer(&remote[i]->timer);
        }

        if (remote[i]->keys) {
            ngx_neonpro_jwt_keyset_free(remote[i]->keys);
            remote[i]->keys = NULL;
        }

        if (remote[i]->body) {
            ngx_free(remote[i]->body);
            remote[i]->body = NULL;
        }
    }
}


static size_t
ngx_neonpro_auth_fetch_write(char *ptr, size_t size, size_t nmemb,
    void *data)
{
    ngx_neonpro_auth_remote_t  *remote = data;

    size_t  n;

    n = size * nmemb;

    if (remote->body == NULL) {
        remote->body = ngx_alloc(NGX_NEONPRO_AUTH_JWKS_MAX, ngx_cycle->log);
        if (remote->body == NULL) {
            return 0;
        }
    }

    /* a short count ends the transfer: the document is too large */

    if (n > NGX_NEONPRO_AUTH_JWKS_MAX - remote->body_len) {
        return 0;
    }

    ngx_memcpy(remote->body + remote->body_len, ptr, n);
    remote->body_len += n;

    return n;
}


static void
ngx_neonpro_auth_fetch(ngx_event_t *ev)
{
    ngx_neonpro_auth_remote_t *remote = ev->data;

    CURL  *easy;

    if (remote->easy) {
        return;
    }

    easy = curl_easy_init();
    if (easy == NULL) {
        goto failed;
    }

    remote->body_len = 0;
    remote->status = 0;

    if (curl_easy_setopt(easy, CURLOPT_URL, remote->url.data) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_RESOLVE, remote->resolve)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                            ngx_neonpro_auth_fetch_write) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEDATA, remote) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https")
           != CURLE_OK
        || ngx_neonpro_curl_add(easy, ngx_neonpro_auth_fetched, remote,
                                ev->log)
           != NGX_OK)
    {
        curl_easy_cleanup(easy);
        goto failed;
    }

    remote->easy = easy;

    return;

failed:

    ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                  "neonpro: could not start the JWKS refresh from \"%V\"",
                  &remote->url);

    ngx_add_timer(&remote->timer,
                  ngx_min(remote->interval, NGX_NEONPRO_AUTH_RETRY_MAX));
}


/*
 * A refresh ended: a good JWK Set replaces the worker's key set, and a bad
 * or missing one leaves the last good set in place.  A failure is retried
 * within a minute.
 */
static void
ngx_neonpro_auth_fetched(void *data, CURLcode result)
{
    ngx_neonpro_auth_remote_t  *remote = data;

    ngx_msec_t                  next;
    const char                 *error;
    ngx_neonpro_jwt_load_t      report;
    ngx_neonpro_jwt_str_t       issuer;
    ngx_neonpro_jwt_keyset_t   *keys;

    (void) curl_easy_getinfo(remote->easy, CURLINFO_RESPONSE_CODE,
                             &remote->status);
    curl_easy_cleanup(remote->easy);
    remote->easy = NULL;

    error = NULL;
    keys = NULL;

    if (result != CURLE_OK) {
        error = curl_easy_strerror(result);

    } else if (remote->status != 200) {
        error = "the status is not 200";

    } else {
        keys = ngx_neonpro_jwt_keyset_create();
        ngx_memzero(&report, sizeof(report));

        issuer.data = remote->issuer.data;
        issuer.len = remote->issuer.len;

        if (keys == NULL) {
            error = "out of memory";

        } else if (ngx_neonpro_jwt_keyset_add_jwks(keys, remote->body,
                                                   remote->body_len,
                                                   &issuer, &report)
                   != 0)
        {
            error = report.error ? report.error : "not a JWK Set";

        } else if (report.loaded == 0) {
            error = "the JWK Set has no key that nginx can use";
        }
    }

    if (remote->body) {
        ngx_free(remote->body);
        remote->body = NULL;
    }

    if (error) {
        if (keys) {
            ngx_neonpro_jwt_keyset_free(keys);
        }

        ngx_log_error(NGX_LOG_ERR, remote->timer.log, 0,
                      "neonpro: the JWKS refresh from \"%V\" failed "
                      "(status %l): %s; %s", &remote->url, remote->status,
                      error, remote->keys ? "the last good key set stays"
                                          : "no key set is loaded yet");

        next = ngx_min(remote->interval, NGX_NEONPRO_AUTH_RETRY_MAX);

    } else {
        if (remote->keys) {
            ngx_neonpro_jwt_keyset_free(remote->keys);
        }

        /* tokens cached under the old set are verified again */

        remote->keys = keys;
        remote->generation++;

        ngx_log_error(NGX_LOG_INFO, remote->timer.log, 0,
                      "neonpro: %uz keys loaded from the JWKS at \"%V\"",
                      report.loaded, &remote->url);

        next = remote->interval;
    }

    if (!ngx_exiting) {
        ngx_add_timer(&remote->timer, next);
    }
}


/* neonpro_auth_jwt_algorithms RS256 ES256 ...; */
char *
ngx_neonpro_auth_algorithms(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *acf)
{
    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_neonpro_jwt_alg_e   alg;

    if (acf->algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    acf->algorithms = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        alg = ngx_neonpro_jwt_alg_by_name(value[i].data, value[i].len);

        if (alg == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid algorithm \"%V\", expected HS256, "
                               "HS384, HS512, RS256, RS384, RS512, PS256, "
                               "ES256, ES384 or EdDSA", &value[i]);
            return NGX_CONF_ERROR;
        }

        acf->algorithms |= alg;
    }

    return NGX_CONF_OK;
}


/* neonpro_auth_jwt_claims [user=claim] [clinic=claim] [role=claim]; */
char *
ngx_neonpro_auth_claims(ngx_conf_t *cf, ngx_neonpro_auth_conf_t *acf)
{
    ngx_str_t   *value, *target;
    ngx_uint_t   i;
    size_t       skip;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len > 5 && ngx_strncmp(value[i].data, "user=", 5) == 0) {
            target = &acf->claim_user;
            skip = 5;

        } else if (value[i].len > 7
                   && ngx_strncmp(value[i].data, "clinic=", 7) == 0)
        {
            target = &acf->claim_clinic;
            skip = 7;

        } else if (value[i].len > 5
                   && ngx_strncmp(value[i].data, "role=", 5) == 0)
        {
            target = &acf->claim_role;
            skip = 5;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected user=, "
                               "clinic= or role= with a claim name",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        target->data = value[i].data + skip;
        target->len = value[i].len - skip;
    }

    return NGX_CONF_OK;
}


/* A list directive of strings: issuers, audiences, claims, roles. */
char *
ngx_neonpro_auth_list(ngx_conf_t *cf, ngx_array_t **list)
{
    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_neonpro_jwt_str_t  *s;

    if (*list != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(ngx_neonpro_jwt_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(*list);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        s->data = value[i].data;
        s->len = value[i].len;
    }

    return NGX_CONF_OK;
}


/* Finds the token: bearer header, cookie, then the WebSocket subprotocol. */
static ngx_int_t
ngx_neonpro_auth_token(ngx_http_request_t *r, ngx_neonpro_auth_conf_t *acf,
    ngx_str_t *token)
{
    u_char           *p, *last, *start, *end;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "bearer ", 7) == 0)
    {
        p = h->value.data + 7;
        last = h->value.data + h->value.len;

        while (p < last && *p == ' ') {
            p++;
        }

        token->data = p;
        token->len = last - p;

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    if (acf->cookie.len
        && ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                             &acf->cookie, token)
           != NGX_DECLINED
        && token->len)
    {
        return NGX_OK;
    }

    h = ngx_neonpro_find_header_in(r, "sec-websocket-protocol",
                                   sizeof("sec-websocket-protocol") - 1);
    if (h == NULL || r->headers_in.upgrade == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',' && *p != ' ') {
            p++;
        }

        end = p;

        if (end - start > 7 && ngx_strncmp(start, "bearer.", 7) == 0) {
            token->data = start + 7;
            token->len = end - start - 7;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* Refuses the request with 401 and the reason, in the client's language. */
static ngx_int_t
ngx_neonpro_auth_refuse(ngx_http_request_t *r, ngx_neonpro_jwt_rc_e rc,
    ngx_neonpro_jwt_result_t *result)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   value, detail;
    const char *reason;

    reason = (rc == NGX_NEONPRO_JWT_OK) ? "missing token"
                                        : ngx_neonpro_jwt_reason(rc);

    if (result && result->kid_len) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "neonpro: JWT rejected: %s, kid \"%s\"", reason,
                      result->kid);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "neonpro: JWT rejected: %s", reason);
    }

    /* RFC 6750, section 3: no error code when no token came at all */

    len = sizeof("Bearer realm=\"neonpro\", error=\"invalid_token\", "
                 "error_description=\"\"") + ngx_strlen(reason);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = p;

    if (rc == NGX_NEONPRO_JWT_OK) {
        value.len = ngx_sprintf(p, "Bearer realm=\"neonpro\"") - p;

    } else {
        value.len = ngx_sprintf(p, "Bearer realm=\"neonpro\", "
                                "error=\"invalid_token\", "
                                "error_description=\"%s\"", reason) - p;
    }

    if (ngx_neonpro_headers_push(r, &ngx_neonpro_auth_www,
                                 &ngx_neonpro_auth_www_lc, &value)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_neonpro_request_lang(r) == NGX_NEONPRO_LANG_EN) {
        detail.data = (u_char *) reason;

    } else {
        detail.data = (u_char *) ((rc == NGX_NEONPRO_JWT_OK)
                                  ? "token ausente"
                                  : ngx_neonpro_auth_reasons_pt[rc]);
    }

    detail.len = ngx_strlen(detail.data);

    return ngx_neonpro_error(r, NGX_HTTP_UNAUTHORIZED,
                             "AUTHENTICATION_FAILED", &detail);
}


/*
 * Returns a claim as a string.  A JSON string points into the claims, and
 * an integer is written in decimal.  Any other value, or a string with
 * control bytes, is absent.
 */
static ngx_int_t
ngx_neonpro_auth_claim_string(ngx_http_request_t *r, json_t *claims,
    ngx_str_t *name, ngx_str_t *out)
{
    u_char      *p;
    size_t       i;
    json_t      *v;
    const char  *s;

    ngx_str_null(out);

    v = json_object_getn(claims, (const char *) name->data, name->len);

    if (json_is_string(v)) {
        s = json_string_value(v);
        out->len = json_string_length(v);

    } else if (json_is_integer(v)) {
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->data = p;
        out->len = ngx_sprintf(p, "%L", (int64_t) json_integer_value(v)) - p;

        return NGX_OK;

    } else {
        return NGX_OK;
    }

    /* these values go into header lines: control bytes make them absent */

    for (i = 0; i < out->len; i++) {
        if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
            out->len = 0;
            return NGX_OK;
        }
    }

    /* the request holds a reference to the claims, so no copy is needed */

    out->data = (u_char *) s;

    return NGX_OK;
}


static void
ngx_neonpro_auth_free_claims(void *data)
{
    json_decref(data);
}


static void
ngx_neonpro_auth_cache_drop(ngx_neonpro_auth_cached_t *e)
{
    if (e->claims) {
        json_decref(e->claims);
        e->claims = NULL;
    }

    if (e->token) {
        ngx_explicit_memzero(e->token, e->len);
        ngx_free(e->token);
        e->token = NULL;
        e->len = 0;
    }
}


/* Returns the slot of a token in the location's cache, making the cache. */
static ngx_neonpro_auth_cached_t *
ngx_neonpro_auth_cache_slot(ngx_neonpro_auth_conf_t *acf, ngx_str_t *token,
    ngx_log_t *log)
{
    ngx_neonpro_auth_cache_t  *cache;

    if (acf->cache_size == 0) {
        /* neonpro_auth_jwt_cache 0: every request is verified */
        return NULL;
    }

    cache = acf->cache;

    if (cache == NULL) {
        cache = ngx_calloc(sizeof(ngx_neonpro_auth_cache_t)
                           + acf->cache_size
                             * sizeof(ngx_neonpro_auth_cached_t), log);
        if (cache == NULL) {
            return NULL;
        }

        cache->entries = (ngx_neonpro_auth_cached_t *) (cache + 1);
        cache->size = acf->cache_size;
        cache->next = ngx_neonpro_auth_caches;
        ngx_neonpro_auth_caches = cache;
        acf->cache = cache;
    }

    return &cache->entries[ngx_murmur_hash2(token->data, token->len)
                           % cache->size];
}


/* Returns the claims of a cached token that is still good, or NULL. */
static json_t *
ngx_neonpro_auth_cache_get(ngx_neonpro_auth_conf_t *acf,
    ngx_neonpro_auth_cached_t *e, ngx_str_t *token)
{
    if (e == NULL || e->claims == NULL || e->len != token->len
        || ngx_memcmp(e->token, token->data, token->len) != 0)
    {
        return NULL;
    }

    if ((acf->remote && e->generation != acf->remote->generation)
        || (e->exp != NGX_NEONPRO_AUTH_NO_EXP
            && ngx_time() > e->exp + acf->leeway))
    {
        ngx_neonpro_auth_cache_drop(e);
        return NULL;
    }

    return e->claims;
}


static void
ngx_neonpro_auth_cache_put(ngx_neonpro_auth_conf_t *acf,
    ngx_neonpro_auth_cached_t *e, ngx_str_t *token, json_t *claims)
{
    json_t  *exp;
    u_char  *copy;

    if (e == NULL) {
        return;
    }

    copy = ngx_alloc(token->len, ngx_cycle->log);
    if (copy == NULL) {
        return;
    }

    ngx_neonpro_auth_cache_drop(e);

    ngx_memcpy(copy, token->data, token->len);
    e->token = copy;
    e->len = token->len;
    e->claims = json_incref(claims);
    e->generation = acf->remote ? acf->remote->generation : 0;

    exp = json_object_get(claims, "exp");
    e->exp = json_is_number(exp) ? (time_t) json_number_value(exp)
                                 : NGX_NEONPRO_AUTH_NO_EXP;
}


/*
 * The preaccess check: NGX_DECLINED to go on, 401 or 403 to refuse.  The
 * identity goes to the request's shared context, for the variables, the
 * agent handler and the chat.
 */
ngx_int_t
ngx_neonpro_auth_check(ngx_http_request_t *r, ngx_neonpro_auth_conf_t *acf)
{
    json_t                     *claims, *exp;
    ngx_str_t                   token;
    ngx_uint_t                  i;
    ngx_pool_cleanup_t         *cln;
    ngx_neonpro_ctx_t          *ctx;
    ngx_neonpro_jwt_str_t      *role;
    ngx_neonpro_jwt_rc_e        rc;
    ngx_neonpro_identity_t     *id;
    ngx_neonpro_jwt_options_t   options;
    ngx_neonpro_jwt_result_t    result;
    ngx_neonpro_auth_cached_t  *slot;

    if (acf->mode == NGX_NEONPRO_AUTH_OFF || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_neonpro_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    id = ctx->identity;

    if (id == NULL) {

        if (ngx_neonpro_auth_token(r, acf, &token) != NGX_OK) {
            if (acf->mode == NGX_NEONPRO_AUTH_OPTIONAL && acf->roles == NULL)
            {
                return NGX_DECLINED;
            }

            return ngx_neonpro_auth_refuse(r, NGX_NEONPRO_JWT_OK, NULL);
        }

        if (token.len > acf->max_size) {
            return ngx_neonpro_auth_refuse(r, NGX_NEONPRO_JWT_TOO_LARGE,
                                           NULL);
        }

        slot = ngx_neonpro_auth_cache_slot(acf, &token, r->connection->log);
        claims = ngx_neonpro_auth_cache_get(acf, slot, &token);

        if (claims) {
            json_incref(claims);

        } else {
            ngx_memzero(&options, sizeof(options));
            ngx_memzero(&result, sizeof(result));

            options.algorithms = (unsigned) acf->algorithms;
            options.max_size = acf->max_size;
            options.now = (int64_t) ngx_time();
            options.leeway = (int64_t) acf->leeway;

            if (acf->issuers) {
                options.issuers = acf->issuers->elts;
                options.nissuers = acf->issuers->nelts;
            }

            if (acf->audiences) {
                options.audiences = acf->audiences->elts;
                options.naudiences = acf->audiences->nelts;
            }

            if (acf->required) {
                options.required = acf->required->elts;
                options.nrequired = acf->required->nelts;
            }

            rc = NGX_NEONPRO_JWT_NO_KEY;

            if (acf->keys) {
                rc = ngx_neonpro_jwt_verify(acf->keys, token.data, token.len,
                                            &options, &result);
            }

            /* a kid that the files do not have may be in the JWK Set */

            if (acf->remote && acf->remote->keys
                && (rc == NGX_NEONPRO_JWT_NO_KEY
                    || rc == NGX_NEONPRO_JWT_UNKNOWN_KID))
            {
                ngx_memzero(&result, sizeof(result));

                rc = ngx_neonpro_jwt_verify(acf->remote->keys, token.data,
                                            token.len, &options, &result);
            }

            if (rc == NGX_NEONPRO_JWT_NOMEM
                || rc == NGX_NEONPRO_JWT_CRYPTO_ERROR)
            {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "neonpro: JWT verification failed: %s",
                              ngx_neonpro_jwt_reason(rc));
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (rc != NGX_NEONPRO_JWT_OK) {
                return ngx_neonpro_auth_refuse(r, rc, &result);
            }

            claims = result.claims;
            ngx_neonpro_auth_cache_put(acf, slot, &token, claims);
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            json_decref(claims);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_neonpro_auth_free_claims;
        cln->data = claims;

        id = ngx_pcalloc(r->pool, sizeof(ngx_neonpro_identity_t));
        if (id == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        id->claims = claims;

        exp = json_object_get(claims, "exp");
        id->expires = json_is_number(exp)
                      ? (time_t) json_number_value(exp) + acf->leeway : 0;

        if (ngx_neonpro_auth_claim_string(r, claims, &acf->claim_user,
                                          &id->user) != NGX_OK
            || ngx_neonpro_auth_claim_string(r, claims, &acf->claim_clinic,
                                             &id->clinic) != NGX_OK
            || ngx_neonpro_auth_claim_string(r, claims, &acf->claim_role,
                                             &id->role) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->identity = id;
    }

    if (acf->roles == NULL) {
        return NGX_DECLINED;
    }

    role = acf->roles->elts;

    for (i = 0; i < acf->roles->nelts; i++) {
        if (role[i].len == id->role.len
            && ngx_strncmp(role[i].data, id->role.data, id->role.len) == 0)
        {
            return NGX_DECLINED;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "neonpro: role \"%V\" is not allowed here", &id->role);

    return ngx_neonpro_error(r, NGX_HTTP_FORBIDDEN, "AUTHORIZATION_FAILED",
                             NULL);
}


ngx_neonpro_identity_t *
ngx_neonpro_auth_identity(ngx_http_request_t *r)
{
    ngx_neonpro_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_neonpro_lgpd_filter_module);

    return ctx ? ctx->identity : NULL;
}


/* $neonpro_user_id, $neonpro_clinic_id, $neonpro_role */
static ngx_int_t
ngx_neonpro_auth_identity_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               *s;
    ngx_neonpro_identity_t  *id;

    id = ngx_neonpro_auth_identity(r);

    if (id == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) id + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* $neonpro_jwt_sub and $neonpro_jwt_claim_NAME: strings and numbers */
static ngx_int_t
ngx_neonpro_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               *name = (ngx_str_t *) data;

    ngx_str_t                claim, value;
    ngx_neonpro_identity_t  *id;

    id = ngx_neonpro_auth_identity(r);

    if (id == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (name->len > sizeof("neonpro_jwt_claim_") - 1
        && ngx_strncmp(name->data, "neonpro_jwt_claim_",
                       sizeof("neonpro_jwt_claim_") - 1) == 0)
    {
        claim.data = name->data + sizeof("neonpro_jwt_claim_") - 1;
        claim.len = name->len - (sizeof("neonpro_jwt_claim_") - 1);

    } else {
        ngx_str_set(&claim, "sub");
    }

    if (ngx_neonpro_auth_claim_string(r, id->claims, &claim, &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (value.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_neonpro_auth_add_variables(ngx_conf_t *cf)
{
    ngx_uint_t            i;
    ngx_http_variable_t  *var;

    /*
     * The claim variables get their own name as data (nginx passes a
     * prefix variable's full name), the identity ones the field's offset.
     */

    static struct {
        ngx_str_t                    name;
        ngx_http_get_variable_pt     handler;
        uintptr_t                    data;
        ngx_uint_t                   flags;
    } vars[] = {
        { ngx_string("neonpro_jwt_sub"), ngx_neonpro_auth_claim_variable,
          0, 0 },
        { ngx_string("neonpro_jwt_claim_"), ngx_neonpro_auth_claim_variable,
          0, NGX_HTTP_VAR_PREFIX },
        { ngx_string("neonpro_user_id"), ngx_neonpro_auth_identity_variable,
          offsetof(ngx_neonpro_identity_t, user), 0 },
        { ngx_string("neonpro_clinic_id"),
          ngx_neonpro_auth_identity_variable,
          offsetof(ngx_neonpro_identity_t, clinic), 0 },
        { ngx_string("neonpro_role"), ngx_neonpro_auth_identity_variable,
          offsetof(ngx_neonpro_identity_t, role), 0 }
    };

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        var = ngx_http_add_variable(cf, &vars[i].name,
                                    NGX_HTTP_VAR_NOCACHEABLE|vars[i].flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = vars[i].handler;
        var->data = (vars[i].handler == ngx_neonpro_auth_claim_variable)
                    ? (uintptr_t) &vars[i].name : vars[i].data;
    }

    return NGX_OK;
}
