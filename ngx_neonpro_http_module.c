
/*
 * ngx_neonpro_module: the agent upstream handler (neonpro_agent_pass), the
 * health endpoint (neonpro_health), identity (neonpro_auth_jwt and
 * neonpro_require_role) and the rate limits of HTTP locations
 * (neonpro_rate_limit).
 *
 * This file contains the directives, the configuration, the health
 * handler and the phase wiring.  The upstream callbacks are in
 * src/ngx_neonpro_agent.c, identity in src/ngx_neonpro_auth.c and the rate
 * limits in src/ngx_neonpro_ratelimit.c.
 */


#include <jansson.h>

#include "src/ngx_neonpro.h"
#include "src/ngx_neonpro_agent.h"
#include "src/ngx_neonpro_agent_contract.h"
#include "src/ngx_neonpro_error.h"
#include "src/ngx_neonpro_peers.h"
#include "src/ngx_neonpro_ratelimit.h"


typedef struct {
    /* the upstreams that neonpro_agent_pass uses, for /health */
    ngx_array_t                    upstreams;
    ngx_flag_t                     zone_added;

    /* the JWK Sets each worker refreshes, of ngx_neonpro_auth_remote_t * */
    ngx_array_t                    remotes;
} ngx_neonpro_main_conf_t;


static char *ngx_neonpro_agent_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_neonpro_health_handler(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_add_peers_zone(ngx_conf_t *cf);
static char *ngx_neonpro_conf_set_contract(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_neonpro_conf_set_next_upstream(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static char *ngx_neonpro_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_neonpro_access_handler(ngx_http_request_t *r);
static char *ngx_neonpro_auth_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_auth_jwt_algorithms(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_neonpro_auth_jwt_jwks_url(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_neonpro_init_process(ngx_cycle_t *cycle);
static void ngx_neonpro_exit_process(ngx_cycle_t *cycle);
static char *ngx_neonpro_auth_jwt_claims(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_auth_jwt_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_neonpro_preaccess_handler(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_neonpro_init(ngx_conf_t *cf);

static void *ngx_neonpro_create_main_conf(ngx_conf_t *cf);
static void *ngx_neonpro_create_loc_conf(ngx_conf_t *cf);
static char *ngx_neonpro_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_conf_bitmask_t  ngx_neonpro_next_upstream_masks[] = {
    { ngx_string("error"), NGX_HTTP_UPSTREAM_FT_ERROR },
    { ngx_string("timeout"), NGX_HTTP_UPSTREAM_FT_TIMEOUT },
    { ngx_string("invalid_header"), NGX_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { ngx_string("non_idempotent"), NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT },
    { ngx_string("http_500"), NGX_HTTP_UPSTREAM_FT_HTTP_500 },
    { ngx_string("http_502"), NGX_HTTP_UPSTREAM_FT_HTTP_502 },
    { ngx_string("http_503"), NGX_HTTP_UPSTREAM_FT_HTTP_503 },
    { ngx_string("http_504"), NGX_HTTP_UPSTREAM_FT_HTTP_504 },
    { ngx_string("off"), NGX_HTTP_UPSTREAM_FT_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_neonpro_contracts[] = {
    { ngx_string("json"), NGX_NEONPRO_CONTRACT_JSON },
    { ngx_string("chat"), NGX_NEONPRO_CONTRACT_CHAT },
    { ngx_string("query"), NGX_NEONPRO_CONTRACT_QUERY },
    { ngx_null_string, 0 }
};


/* agent reply headers kept from the client */
static ngx_str_t  ngx_neonpro_agent_hide_headers[] = {
    ngx_string("Date"),
    ngx_string("Server"),
    ngx_string("X-Request-Id"),
    ngx_string("X-Pad"),
    ngx_string("X-Accel-Expires"),
    ngx_string("X-Accel-Redirect"),
    ngx_string("X-Accel-Limit-Rate"),
    ngx_string("X-Accel-Buffering"),
    ngx_string("X-Accel-Charset"),
    ngx_null_string
};


static ngx_conf_enum_t  ngx_neonpro_auth_modes[] = {
    { ngx_string("off"), NGX_NEONPRO_AUTH_OFF },
    { ngx_string("required"), NGX_NEONPRO_AUTH_REQUIRED },
    { ngx_string("optional"), NGX_NEONPRO_AUTH_OPTIONAL },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_neonpro_limit_headers[] = {
    { ngx_string("draft"), NGX_NEONPRO_RATELIMIT_HEADERS_DRAFT },
    { ngx_string("legacy"), NGX_NEONPRO_RATELIMIT_HEADERS_LEGACY },
    { ngx_string("both"), NGX_NEONPRO_RATELIMIT_HEADERS_DRAFT
                          |NGX_NEONPRO_RATELIMIT_HEADERS_LEGACY },
    { ngx_string("off"), NGX_NEONPRO_RATELIMIT_HEADERS_OFF },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_neonpro_commands[] = {

    { ngx_string("neonpro_agent_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_agent_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_agent_contract"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_contract,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, contract),
      &ngx_neonpro_contracts },

    { ngx_string("neonpro_agent_max_message_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, max_message_length),
      NULL },

    { ngx_string("neonpro_agent_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("neonpro_agent_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, upstream.send_timeout),
      NULL },

    { ngx_string("neonpro_agent_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("neonpro_agent_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, upstream.buffer_size),
      NULL },

    { ngx_string("neonpro_agent_next_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_conf_set_next_upstream,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, upstream.next_upstream),
      &ngx_neonpro_next_upstream_masks },

    { ngx_string("neonpro_agent_next_upstream_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, upstream.next_upstream_tries),
      NULL },

    { ngx_string("neonpro_agent_next_upstream_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_msec,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, upstream.next_upstream_timeout),
      NULL },

    { ngx_string("neonpro_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_neonpro_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_auth_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.mode),
      &ngx_neonpro_auth_modes },

    { ngx_string("neonpro_auth_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_neonpro_auth_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_auth_jwt_jwks_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_neonpro_auth_jwt_jwks_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_auth_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_auth_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_auth_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_auth_jwt_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.issuers),
      NULL },

    { ngx_string("neonpro_auth_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_auth_jwt_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.audiences),
      NULL },

    { ngx_string("neonpro_auth_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_auth_jwt_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.required),
      NULL },

    { ngx_string("neonpro_auth_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.leeway),
      NULL },

    { ngx_string("neonpro_auth_jwt_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.max_size),
      NULL },

    { ngx_string("neonpro_auth_jwt_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.cookie),
      NULL },

    { ngx_string("neonpro_auth_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_conf_set_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.cache_size),
      NULL },

    { ngx_string("neonpro_auth_jwt_claims"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_auth_jwt_claims,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_require_role"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_auth_jwt_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, auth.roles),
      NULL },

    { ngx_string("neonpro_rate_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_neonpro_ratelimit_zone,
      0,
      0,
      NULL },

    { ngx_string("neonpro_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_neonpro_rate_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_rate_limit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_agent_loc_conf_t, limit_headers),
      &ngx_neonpro_limit_headers },

      ngx_null_command
};


static ngx_http_module_t  ngx_neonpro_module_ctx = {
    ngx_neonpro_add_variables,             /* preconfiguration */
    ngx_neonpro_init,                      /* postconfiguration */

    ngx_neonpro_create_main_conf,          /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_neonpro_create_loc_conf,           /* create location configuration */
    ngx_neonpro_merge_loc_conf             /* merge location configuration */
};


ngx_module_t  ngx_neonpro_module = {
    NGX_MODULE_V1,
    &ngx_neonpro_module_ctx,               /* module context */
    ngx_neonpro_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_neonpro_init_process,              /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_neonpro_exit_process,              /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static char *
ngx_neonpro_agent_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    ngx_url_t                      u;
    ngx_str_t                     *value;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_neonpro_main_conf_t       *mcf;
    ngx_http_upstream_srv_conf_t  *uscf, **entry;

    if (alcf->upstream.upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len <= 7
        || ngx_strncasecmp(value[1].data, (u_char *) "http://", 7) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid agent address \"%V\", expected "
                           "http://host[:port] or http://upstream_name",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.len = value[1].len - 7;
    u.url.data = value[1].data + 7;
    u.default_port = 80;
    u.uri_part = 1;
    u.no_resolve = 1;

    uscf = ngx_http_upstream_add(cf, &u, 0);
    if (uscf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (u.uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid agent address \"%V\": a URI part is "
                           "not allowed, the request URI is passed as is",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->upstream.upstream = uscf;
    alcf->host = u.host;

    if (u.port && u.port != 80) {
        alcf->host.len = u.url.len;
        alcf->host.data = u.url.data;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_neonpro_module);

    entry = ngx_array_push(&mcf->upstreams);
    if (entry == NULL) {
        return NGX_CONF_ERROR;
    }

    *entry = uscf;

    if (ngx_neonpro_add_peers_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"neonpro_agent_pass\" cannot share a location "
                           "with another content handler such as "
                           "proxy_pass");
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_neonpro_agent_handler;
    alcf->clcf = clcf;

    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/') {
        clcf->auto_redirect = 1;
    }

    /* neonpro_json_errors defaults to on where the agent is passed */
    ngx_neonpro_lgpd_mark_agent(cf);

    return NGX_CONF_OK;
}


static char *
ngx_neonpro_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_neonpro_health_handler;

    if (ngx_neonpro_add_peers_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Runs a stock slot setter and, where nginx's own message would not show
 * the bad value, reports it quoted with what is expected.
 */
static char *
ngx_neonpro_conf_set_checked(ngx_conf_t *cf, ngx_command_t *cmd, void *conf,
    char *(*set)(ngx_conf_t *cf, ngx_command_t *cmd, void *conf),
    const char *expected)
{
    char       *rv;
    ngx_str_t  *value;

    rv = set(cf, cmd, conf);

    if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR
        || ngx_strcmp(rv, "is duplicate") == 0)
    {
        return rv;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "expected %s", &value[1], &cmd->name, expected);

    return NGX_CONF_ERROR;
}


char *
ngx_neonpro_conf_set_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_neonpro_conf_set_checked(cf, cmd, conf, ngx_conf_set_msec_slot,
                                        "a time such as 30s or 500ms");
}


char *
ngx_neonpro_conf_set_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_neonpro_conf_set_checked(cf, cmd, conf, ngx_conf_set_size_slot,
                                        "a size such as 8k or 1m");
}


char *
ngx_neonpro_conf_set_num(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_neonpro_conf_set_checked(cf, cmd, conf, ngx_conf_set_num_slot,
                                        "a whole number");
}


static char *
ngx_neonpro_conf_set_contract(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    ngx_str_t        *value;
    ngx_conf_enum_t  *e;

    if (alcf->contract != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (e = ngx_neonpro_contracts; e->name.len; e++) {
        if (e->name.len == value[1].len
            && ngx_strcmp(e->name.data, value[1].data) == 0)
        {
            alcf->contract = e->value;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "expected json, chat or query", &value[1], &cmd->name);

    return NGX_CONF_ERROR;
}


static char *
ngx_neonpro_conf_set_next_upstream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_conf_bitmask_t  *m;

    if (alcf->upstream.next_upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;
    alcf->upstream.next_upstream = NGX_CONF_BITMASK_SET;

    for (i = 1; i < cf->args->nelts; i++) {

        for (m = ngx_neonpro_next_upstream_masks; m->name.len; m++) {
            if (m->name.len == value[i].len
                && ngx_strcmp(m->name.data, value[i].data) == 0)
            {
                break;
            }
        }

        if (m->name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive, "
                               "expected error, timeout, invalid_header, "
                               "non_idempotent, http_500, http_502, "
                               "http_503, http_504 or off",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->upstream.next_upstream |= m->mask;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_neonpro_add_peers_zone(ngx_conf_t *cf)
{
    ngx_neonpro_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_neonpro_module);

    if (mcf->zone_added) {
        return NGX_OK;
    }

    mcf->zone_added = 1;

    return ngx_neonpro_peers_add_zone(cf);
}


static json_t *
ngx_neonpro_health_peer(ngx_http_upstream_srv_conf_t *uscf, ngx_str_t *name)
{
    u_char                     time[sizeof("1970-01-01T00:00:00Z")];
    json_t                    *peer;
    ngx_tm_t                   tm;
    ngx_neonpro_peer_state_t   state;

    peer = json_object();
    if (peer == NULL) {
        return NULL;
    }

    json_object_set_new(peer, "upstream",
                        json_stringn((char *) uscf->host.data,
                                     uscf->host.len));
    json_object_set_new(peer, "address",
                        json_stringn((char *) name->data, name->len));

    if (ngx_neonpro_peers_get(name, &state) != NGX_OK) {
        json_object_set_new(peer, "state", json_string("unknown"));
        json_object_set_new(peer, "last_status", json_null());
        json_object_set_new(peer, "last_seen", json_null());
        json_object_set_new(peer, "successes", json_integer(0));
        json_object_set_new(peer, "failures", json_integer(0));
        json_object_set_new(peer, "consecutive_failures", json_integer(0));
        return peer;
    }

    ngx_gmtime(state.last_seen, &tm);
    ngx_sprintf(time, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z",
                tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    json_object_set_new(peer, "state",
                        json_string(state.consecutive_failures ? "down"
                                                               : "up"));
    json_object_set_new(peer, "last_status",
                        json_integer((json_int_t) state.last_status));
    json_object_set_new(peer, "last_seen", json_string((char *) time));
    json_object_set_new(peer, "successes",
                        json_integer((json_int_t) state.successes));
    json_object_set_new(peer, "failures",
                        json_integer((json_int_t) state.failures));
    json_object_set_new(peer, "consecutive_failures",
                        json_integer((json_int_t) state.consecutive_failures));

    return peer;
}


/*
 * Builds the health document: the module, this worker, and every server of
 * the agent upstreams with the state the workers recorded.
 */
static json_t *
ngx_neonpro_health_document(ngx_http_request_t *r)
{
    json_t                         *doc, *peers, *peer;
    ngx_uint_t                      i, j, k, seen, up, down;
    ngx_http_upstream_server_t     *server;
    ngx_neonpro_main_conf_t        *mcf;
    ngx_http_upstream_srv_conf_t  **uscf;

    mcf = ngx_http_get_module_main_conf(r, ngx_neonpro_module);

    peers = json_array();
    if (peers == NULL) {
        return NULL;
    }

    up = 0;
    down = 0;
    uscf = mcf->upstreams.elts;

    for (i = 0; i < mcf->upstreams.nelts; i++) {

        /* one upstream may serve several locations */

        for (seen = 0; seen < i && uscf[seen] != uscf[i]; seen++) {
            /* void */
        }

        if (seen < i || uscf[i]->servers == NULL) {
            continue;
        }

        server = uscf[i]->servers->elts;

        for (j = 0; j < uscf[i]->servers->nelts; j++) {
            for (k = 0; k < server[j].naddrs; k++) {
                peer = ngx_neonpro_health_peer(uscf[i],
                                               &server[j].addrs[k].name);
                if (peer == NULL) {
                    json_decref(peers);
                    return NULL;
                }

                if (ngx_strcmp(json_string_value(
                                   json_object_get(peer, "state")), "down")
                    == 0)
                {
                    down++;

                } else {
                    up++;
                }

                json_array_append_new(peers, peer);
            }
        }
    }

    doc = json_pack("{s:s,s:s,s:s,s:I,s:o}",
                    "status", (down && up == 0) ? "degraded" : "ok",
                    "module", "ngx_neonpro",
                    "version", NGX_NEONPRO_VERSION,
                    "worker_pid", (json_int_t) ngx_pid,
                    "agent_peers", peers);

    return doc;
}


static ngx_int_t
ngx_neonpro_health_handler(ngx_http_request_t *r)
{
    char             *text;
    size_t            len;
    json_t           *doc;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_neonpro_error_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    doc = ngx_neonpro_health_document(r);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(text);

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        ngx_free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, text, len);
    *b->last++ = '\n';
    ngx_free(text);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    /* a health document describes this moment, so caches must not keep it */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");
    h->lowcase_key = (u_char *) "cache-control";

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "application/json; charset=utf-8");
    r->headers_out.content_type_len = sizeof("application/json") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static char *
ngx_neonpro_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    return ngx_neonpro_ratelimit_add(cf, &alcf->limits);
}


static ngx_int_t
ngx_neonpro_access_handler(ngx_http_request_t *r)
{
    ngx_neonpro_agent_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_module);

    return ngx_neonpro_ratelimit_check(r, alcf->limits, alcf->limit_headers);
}


static char *
ngx_neonpro_auth_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    return ngx_neonpro_auth_key(cf, &alcf->auth);
}


static char *
ngx_neonpro_auth_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    return ngx_neonpro_auth_algorithms(cf, &alcf->auth);
}


static char *
ngx_neonpro_auth_jwt_jwks_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    ngx_neonpro_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_neonpro_module);

    return ngx_neonpro_auth_jwks_url(cf, &alcf->auth, &mcf->remotes);
}


static ngx_neonpro_main_conf_t *
ngx_neonpro_cycle_main_conf(ngx_cycle_t *cycle)
{
    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module)
        == NULL)
    {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(cycle, ngx_neonpro_module);
}


static ngx_int_t
ngx_neonpro_init_process(ngx_cycle_t *cycle)
{
    ngx_neonpro_main_conf_t  *mcf;

    mcf = ngx_neonpro_cycle_main_conf(cycle);

    if (mcf == NULL) {
        return NGX_OK;
    }

    return ngx_neonpro_auth_init_process(cycle, &mcf->remotes);
}


static void
ngx_neonpro_exit_process(ngx_cycle_t *cycle)
{
    ngx_neonpro_main_conf_t  *mcf;

    mcf = ngx_neonpro_cycle_main_conf(cycle);

    if (mcf) {
        ngx_neonpro_auth_exit_process(&mcf->remotes);
    }
}


static char *
ngx_neonpro_auth_jwt_claims(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_agent_loc_conf_t *alcf = conf;

    return ngx_neonpro_auth_claims(cf, &alcf->auth);
}


static char *
ngx_neonpro_auth_jwt_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_neonpro_auth_list(cf,
                                 (ngx_array_t **) ((u_char *) conf
                                                   + cmd->offset));
}


static ngx_int_t
ngx_neonpro_preaccess_handler(ngx_http_request_t *r)
{
    ngx_neonpro_agent_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_module);

    return ngx_neonpro_auth_check(r, &alcf->auth);
}


static ngx_int_t
ngx_neonpro_add_variables(ngx_conf_t *cf)
{
    return ngx_neonpro_auth_add_variables(cf);
}


/*
 * The phase handlers: identity in the preaccess phase, so that it comes
 * before every access check, and the rate limits in the access phase.
 * Handlers of a phase run in the reverse order of registration, and this
 * module's postconfiguration runs before the LGPD filter's, so the
 * legal-basis check comes before the rate limits.
 */
static ngx_int_t
ngx_neonpro_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_neonpro_ratelimit_check_zones(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_neonpro_preaccess_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_neonpro_access_handler;

    return NGX_OK;
}


static void *
ngx_neonpro_create_main_conf(ngx_conf_t *cf)
{
    ngx_neonpro_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_neonpro_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->upstreams, cf->pool, 4,
                       sizeof(ngx_http_upstream_srv_conf_t *))
        != NGX_OK
        || ngx_array_init(&mcf->remotes, cf->pool, 1,
                          sizeof(ngx_neonpro_auth_remote_t *))
           != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static void *
ngx_neonpro_create_loc_conf(ngx_conf_t *cf)
{
    ngx_neonpro_agent_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_neonpro_agent_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.upstream = NULL;
     *     conf->upstream.next_upstream = 0;
     *     conf->upstream.buffering = 0;
     *     conf->host = { 0, NULL };
     */

    conf->contract = NGX_CONF_UNSET_UINT;
    conf->max_message_length = NGX_CONF_UNSET_SIZE;

    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.next_upstream_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.next_upstream_tries = NGX_CONF_UNSET_UINT;
    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;

    conf->upstream.hide_headers = NGX_CONF_UNSET_PTR;
    conf->upstream.pass_headers = NGX_CONF_UNSET_PTR;

    /* the agent's reply is streamed, and its body is read before sending */
    conf->upstream.buffering = 0;
    conf->upstream.request_buffering = 1;
    conf->upstream.pass_request_headers = 1;
    conf->upstream.pass_request_body = 1;

    /* the agent may not redirect, throttle or buffer through nginx */
    conf->upstream.ignore_headers = NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT
                                    |NGX_HTTP_UPSTREAM_IGN_XA_EXPIRES
                                    |NGX_HTTP_UPSTREAM_IGN_XA_LIMIT_RATE
                                    |NGX_HTTP_UPSTREAM_IGN_XA_BUFFERING
                                    |NGX_HTTP_UPSTREAM_IGN_XA_CHARSET;

    ngx_str_set(&conf->upstream.module, "neonpro_agent");

    conf->limits = NGX_CONF_UNSET_PTR;
    conf->limit_headers = NGX_CONF_UNSET_UINT;

    ngx_neonpro_auth_init_conf(&conf->auth);

    return conf;
}


static char *
ngx_neonpro_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_neonpro_agent_loc_conf_t *prev = parent;
    ngx_neonpro_agent_loc_conf_t *conf = child;

    ngx_hash_init_t  hash;

    if (ngx_neonpro_auth_merge_conf(cf, &prev->auth, &conf->auth)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* a location with limits of its own drops the inherited ones */
    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    ngx_conf_merge_uint_value(conf->limit_headers, prev->limit_headers,
                              NGX_NEONPRO_RATELIMIT_HEADERS_DRAFT);

    ngx_conf_merge_uint_value(conf->contract, prev->contract,
                              NGX_NEONPRO_CONTRACT_JSON);
    ngx_conf_merge_size_value(conf->max_message_length,
                              prev->max_message_length, 16 * 1024);

    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 5000);
    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 60000);
    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 60000);
    ngx_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
                              prev->upstream.next_upstream_timeout, 0);
    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                              prev->upstream.next_upstream_tries, 0);
    ngx_conf_merge_size_value(conf->upstream.buffer_size,
                              prev->upstream.buffer_size,
                              (size_t) 8 * 1024);

    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                                 prev->upstream.next_upstream,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_UPSTREAM_FT_ERROR
                                  |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                       |NGX_HTTP_UPSTREAM_FT_OFF;
    }

    if (conf->max_message_length == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"neonpro_agent_max_message_length\" must be "
                           "greater than 0");
        return NGX_CONF_ERROR;
    }

    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "neonpro_agent_hide_headers_hash";

    if (ngx_http_upstream_hide_headers_hash(cf, &conf->upstream,
                                            &prev->upstream,
                                            ngx_neonpro_agent_hide_headers,
                                            &hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* a content directive after neonpro_agent_pass replaced its handler */

    if (conf->clcf && conf->clcf->handler != ngx_neonpro_agent_handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"neonpro_agent_pass\" in location \"%V\" "
                           "cannot share it with another content handler "
                           "such as proxy_pass", &conf->clcf->name);
        return NGX_CONF_ERROR;
    }

    if (conf->upstream.upstream == NULL) {
        conf->upstream.upstream = prev->upstream.upstream;
        conf->host = prev->host;
    }

    return NGX_CONF_OK;
}
