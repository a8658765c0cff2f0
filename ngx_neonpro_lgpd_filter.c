
/*
 * ngx_neonpro_lgpd_filter_module: LGPD data classes and caching policy,
 * compliance and security headers, the legal-basis check of patient routes,
 * and JSON bodies for error responses.
 *
 * The access handler checks the legal basis before the content handler
 * runs.  The header filter owns Cache-Control, Pragma, Expires and the
 * compliance and security headers on every response of a classified
 * location, whatever the upstream, add_header or expires set.  The body
 * filter swaps a body for a JSON error when the header filter decided to.
 */


#include "src/ngx_neonpro.h"
#include "src/ngx_neonpro_error.h"
#include "src/ngx_neonpro_headers.h"
#include "src/ngx_neonpro_lgpd.h"
#include "src/ngx_neonpro_sfv.h"


static ngx_int_t ngx_neonpro_lgpd_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_lgpd_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_neonpro_lgpd_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

static ngx_int_t ngx_neonpro_lgpd_class_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_neonpro_lgpd_basis_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_neonpro_lgpd_no_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_neonpro_lgpd_data_class(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_lgpd_cache_control(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_neonpro_lgpd_token_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_neonpro_lgpd_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_int_t ngx_neonpro_lgpd_add_variables(ngx_conf_t *cf);
static void *ngx_neonpro_lgpd_create_loc_conf(ngx_conf_t *cf);
static char *ngx_neonpro_lgpd_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_neonpro_lgpd_init(ngx_conf_t *cf);


static ngx_command_t  ngx_neonpro_lgpd_commands[] = {

    { ngx_string("neonpro_data_class"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_neonpro_lgpd_data_class,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_cache_control"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_neonpro_lgpd_cache_control,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("neonpro_data_class_marker"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, marker),
      NULL },

    { ngx_string("neonpro_legal_basis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, legal_basis),
      NULL },

    { ngx_string("neonpro_legal_bases"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_lgpd_token_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, legal_bases),
      NULL },

    { ngx_string("neonpro_legal_purposes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_neonpro_lgpd_token_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, legal_purposes),
      NULL },

    { ngx_string("neonpro_compliance_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, compliance),
      NULL },

    { ngx_string("neonpro_compliance_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
                        |NGX_CONF_TAKE23,
      ngx_neonpro_lgpd_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, compliance_own),
      NULL },

    { ngx_string("neonpro_security_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, security),
      NULL },

    { ngx_string("neonpro_security_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_neonpro_lgpd_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, security_own),
      NULL },

    { ngx_string("neonpro_json_errors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_neonpro_lgpd_loc_conf_t, json_errors),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_neonpro_lgpd_filter_module_ctx = {
    ngx_neonpro_lgpd_add_variables,        /* preconfiguration */
    ngx_neonpro_lgpd_init,                 /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_neonpro_lgpd_create_loc_conf,      /* create location configuration */
    ngx_neonpro_lgpd_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_neonpro_lgpd_filter_module = {
    NGX_MODULE_V1,
    &ngx_neonpro_lgpd_filter_module_ctx,   /* module context */
    ngx_neonpro_lgpd_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_neonpro_name_t  ngx_neonpro_lgpd_policy_names[] = {
    { ngx_string("patient"), NGX_NEONPRO_POLICY_PATIENT },
    { ngx_string("api"), NGX_NEONPRO_POLICY_API },
    { ngx_string("credentialed"), NGX_NEONPRO_POLICY_CREDENTIALED },
    { ngx_string("image"), NGX_NEONPRO_POLICY_IMAGE },
    { ngx_string("static"), NGX_NEONPRO_POLICY_STATIC },
    { ngx_string("error"), NGX_NEONPRO_POLICY_ERROR },
    { ngx_null_string, 0 }
};


static ngx_neonpro_cache_policy_t  ngx_neonpro_lgpd_default_policies[] = {
    { ngx_string("no-store, no-cache, must-revalidate, private"),
      ngx_string("no-cache"), ngx_string("0"), 1 },
    { ngx_string("public, max-age=300, stale-while-revalidate=60"),
      ngx_null_string, ngx_null_string, 1 },
    { ngx_string("private, max-age=300, stale-while-revalidate=60"),
      ngx_null_string, ngx_null_string, 1 },
    { ngx_string("public, max-age=2592000, stale-while-revalidate=86400"),
      ngx_null_string, ngx_null_string, 1 },
    { ngx_string("public, max-age=31536000, immutable"),
      ngx_null_string, ngx_null_string, 1 },
    { ngx_string("no-store"),
      ngx_null_string, ngx_null_string, 1 }
};


static ngx_neonpro_header_default_t  ngx_neonpro_lgpd_default_compliance[] = {
    { "X-LGPD-Compliant", "true", 0 },
    { "X-CFM-Compliant", "true", 0 },
    { "X-ANVISA-Compliant", "true", 0 },
    { "X-Data-Residency", "brazil-only", 0 },
    { "X-Data-Retention", "20-years", 1 },
    { NULL, NULL, 0 }
};


static ngx_neonpro_header_default_t  ngx_neonpro_lgpd_default_security[] = {
    { "Strict-Transport-Security",
      "max-age=31536000; includeSubDomains; preload", 0 },
    { "X-Content-Type-Options", "nosniff", 0 },
    { "X-Frame-Options", "DENY", 0 },
    { "Referrer-Policy", "strict-origin-when-cross-origin", 0 },
    { "Permissions-Policy",
      "camera=(self), microphone=(self), geolocation=(), payment=(),"
      " usb=()", 0 },
    { "Content-Security-Policy",
      "default-src 'self'; script-src 'self'; style-src 'self';"
      " img-src 'self' data:; connect-src 'self'; object-src 'none';"
      " base-uri 'self'; form-action 'self'; frame-ancestors 'none'", 0 },
    { NULL, NULL, 0 }
};


static const char  *ngx_neonpro_lgpd_default_bases[] = {
    "consent", "contract", "legal_obligation", "vital_interest",
    "legitimate_interest", "public_task", "health_protection",
    "medical_assistance", "public_health", "health_research",
    "pharmaceutical_vigilance", NULL
};


static const char  *ngx_neonpro_lgpd_default_purposes[] = {
    "medical_care", "appointment_scheduling", "billing", "research",
    "legal_compliance", NULL
};


static ngx_http_variable_t  ngx_neonpro_lgpd_variables[] = {

    { ngx_string("neonpro_data_class"), NULL,
      ngx_neonpro_lgpd_class_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("neonpro_legal_basis"), NULL,
      ngx_neonpro_lgpd_basis_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("neonpro_no_cache"), NULL,
      ngx_neonpro_lgpd_no_cache_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_neonpro_ctx_t *
ngx_neonpro_get_ctx(ngx_http_request_t *r)
{
    ngx_neonpro_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_lgpd_filter_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_neonpro_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_neonpro_lgpd_filter_module);
    }

    return ctx;
}


ngx_table_elt_t *
ngx_neonpro_find_header_in(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncmp(h[i].lowcase_key, name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* Makes JSON errors the default of the location being parsed. */
void
ngx_neonpro_lgpd_mark_agent(ngx_conf_t *cf)
{
    ngx_neonpro_lgpd_loc_conf_t  *lcf;

    lcf = ngx_http_conf_get_module_loc_conf(cf,
                                            ngx_neonpro_lgpd_filter_module);
    lcf->agent = 1;
}


static ngx_int_t
ngx_neonpro_lgpd_access_handler(ngx_http_request_t *r)
{
    ngx_neonpro_ctx_t            *ctx;
    ngx_neonpro_lgpd_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_lgpd_filter_module);

    if (!lcf->check_basis || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_neonpro_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->basis_checked) {
        return NGX_DECLINED;
    }

    return ngx_neonpro_lgpd_check_basis(r, lcf, ctx);
}


static ngx_int_t
ngx_neonpro_lgpd_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                    location_class, response_class;
    ngx_neonpro_ctx_t            *ctx;
    ngx_neonpro_lgpd_loc_conf_t  *lcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_neonpro_lgpd_filter_module);
    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_lgpd_filter_module);

    if (lcf->data_class == NGX_NEONPRO_CLASS_NONE
        && !lcf->json_errors_on
        && (ctx == NULL
            || (ctx->error_code == NULL && !ctx->replace_response)))
    {
        return ngx_http_next_header_filter(r);
    }

    if (ctx == NULL) {
        ctx = ngx_neonpro_get_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    /* nginx's status table has no reason phrase for 426 */

    if (r->headers_out.status == 426 && r->headers_out.status_line.len == 0)
    {
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    }

    location_class = lcf->data_class;
    response_class = ngx_neonpro_lgpd_response_class(r, lcf);

    ctx->data_class = response_class;
    ctx->class_applied = 1;

    /*
     * An upstream marker raised the response to the patient class on a
     * request that no legal-basis check has passed: check the request now
     * and, if it fails, send the 403 instead of any byte of this response.
     */

    if (ctx->replace_response && !ctx->replace_body) {

        /* an agent 5xx that nginx did not retry on another server */

        if (ngx_neonpro_lgpd_block(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (response_class == NGX_NEONPRO_CLASS_PATIENT
        && location_class != NGX_NEONPRO_CLASS_PATIENT
        && lcf->legal_basis != 0
        && !ctx->basis_checked
        && ctx->error_code == NULL)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "neonpro: upstream marked the response as patient "
                      "data, checking the legal basis");

        if (ngx_neonpro_lgpd_check_basis(r, lcf, ctx) != NGX_DECLINED) {
            if (ngx_neonpro_lgpd_block(r, ctx) != NGX_OK) {
                return NGX_ERROR;
            }
        }

    } else if (r->err_status >= NGX_HTTP_BAD_REQUEST
               && !r->error_page
               && (lcf->json_errors_on || ctx->error_code))
    {
        if (ngx_neonpro_error_prepare(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->replace_body = 1;
    }

    if (response_class != NGX_NEONPRO_CLASS_NONE
        && ngx_neonpro_lgpd_apply_policy(r, lcf, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_neonpro_lgpd_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t         out, *cl;
    ngx_neonpro_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_neonpro_lgpd_filter_module);

    if (ctx == NULL || !ctx->replace_body) {
        return ngx_http_next_body_filter(r, in);
    }

    /* mark the replaced body as sent so that its producer can go on */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->replacement_sent || ctx->error_body == NULL) {
        return ngx_http_next_body_filter(r, NULL);
    }

    ctx->replacement_sent = 1;

    out.buf = ctx->error_body;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_uint_t
ngx_neonpro_lgpd_request_class(ngx_http_request_t *r)
{
    ngx_neonpro_ctx_t            *ctx;
    ngx_neonpro_lgpd_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_neonpro_lgpd_filter_module);

    if (ctx && ctx->class_applied) {
        return ctx->data_class;
    }

    lcf = ngx_http_get_module_loc_conf(r->main, ngx_neonpro_lgpd_filter_module);

    return lcf->data_class;
}


static ngx_int_t
ngx_neonpro_lgpd_class_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *label;

    label = &ngx_neonpro_lgpd_class_labels[ngx_neonpro_lgpd_request_class(r)];

    v->len = label->len;
    v->data = label->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_lgpd_basis_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_neonpro_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_neonpro_lgpd_filter_module);

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    if (ctx == NULL || ctx->legal_basis.len == 0) {
        v->len = 0;
        v->data = (u_char *) "";
        return NGX_OK;
    }

    v->len = ctx->legal_basis.len;
    v->data = ctx->legal_basis.data;

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_lgpd_no_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    if (ngx_neonpro_lgpd_request_class(r) == NGX_NEONPRO_CLASS_PATIENT) {
        v->len = 1;
        v->data = (u_char *) "1";

    } else {
        v->len = 0;
        v->data = (u_char *) "";
    }

    return NGX_OK;
}


static ngx_int_t
ngx_neonpro_lgpd_find_name(ngx_neonpro_name_t *names, ngx_str_t *value,
    ngx_uint_t *result)
{
    for ( /* void */ ; names->name.len; names++) {
        if (names->name.len == value->len
            && ngx_strncmp(names->name.data, value->data, value->len) == 0)
        {
            *result = names->value;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


static char *
ngx_neonpro_lgpd_data_class(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_neonpro_lgpd_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->data_class != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_neonpro_lgpd_find_name(ngx_neonpro_lgpd_class_names, &value[1],
                                   &lcf->data_class)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid data class \"%V\", expected off, "
                           "patient, sensitive, medical, api, image "
                           "or static", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* Rejects control characters: a value must stay on one header line. */
static ngx_int_t
ngx_neonpro_lgpd_check_value(ngx_conf_t *cf, ngx_str_t *value)
{
    size_t  i;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] < 0x20 || value->data[i] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid header value \"%V\": control "
                               "characters are not allowed", value);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


#define ngx_neonpro_is_token_char(c)                                          \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                \
     || ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '_')


/*
 * Checks the syntax of Cache-Control (RFC 9111, section 5.2):
 * comma-separated directives, each a token with an optional "=" and a token
 * or quoted string as argument; max-age style arguments must be digits.
 */
static ngx_int_t
ngx_neonpro_lgpd_check_cache_control(ngx_str_t *value)
{
    u_char  *p, *last, *name, *arg;
    size_t   name_len;

    p = value->data;
    last = p + value->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        if (p == last) {
            break;
        }

        name = p;

        while (p < last && ngx_neonpro_is_token_char(*p)) {
            p++;
        }

        name_len = p - name;

        if (name_len == 0) {
            return NGX_ERROR;
        }

        if (p < last && *p == '=') {
            arg = ++p;

            if (p < last && *p == '"') {
                for (p++; p < last && *p != '"'; p++) { /* void */ }

                if (p == last) {
                    return NGX_ERROR;
                }

                p++;

            } else {
                while (p < last && *p != ',' && *p != ' ') {
                    if (!ngx_neonpro_is_token_char(*p)) {
                        return NGX_ERROR;
                    }

                    p++;
                }

                if (p == arg) {
                    return NGX_ERROR;
                }

                /* the delta-seconds arguments: max-age, s-maxage, stale-* */

                if ((ngx_strlcasestrn(name, name + name_len,
                                      (u_char *) "age", 3 - 1)
                     || ngx_strlcasestrn(name, name + name_len,
                                         (u_char *) "stale-", 6 - 1))
                    && ngx_atoi(arg, p - arg) == NGX_ERROR)
                {
                    return NGX_ERROR;
                }
            }
        }

        while (p < last && *p == ' ') {
            p++;
        }

        if (p < last && *p != ',') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static char *
ngx_neonpro_lgpd_cache_control(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_neonpro_lgpd_loc_conf_t *lcf = conf;

    ngx_str_t                   *value, *param;
    ngx_uint_t                   i, index;
    ngx_neonpro_cache_policy_t  *policy;

    value = cf->args->elts;

    if (cf->args->nelts > 5) {
        return "has too many parameters";
    }

    if (ngx_neonpro_lgpd_find_name(ngx_neonpro_lgpd_policy_names, &value[1],
                                   &index)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid class \"%V\", expected patient, api, "
                           "credentialed, image, static or error",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    policy = &lcf->cache[index];

    if (policy->set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate cache policy for class \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[2].len == 0 || ngx_neonpro_lgpd_check_value(cf, &value[2])
                             != NGX_OK)
    {
        if (value[2].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty Cache-Control value for class \"%V\"",
                               &value[1]);
        }

        return NGX_CONF_ERROR;
    }

    if (ngx_neonpro_lgpd_check_cache_control(&value[2]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Cache-Control value \"%V\", expected "
                           "directives such as \"public, max-age=300\"",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    policy->cache_control = value[2];
    policy->set = 1;

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "pragma=", 7) == 0) {
            param = &policy->pragma;
            param->data = value[i].data + 7;
            param->len = value[i].len - 7;

        } else if (ngx_strncmp(value[i].data, "expires=", 8) == 0) {
            param = &policy->expires;
            param->data = value[i].data + 8;
            param->len = value[i].len - 8;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "pragma=value or expires=value", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (param->len == 0 || ngx_neonpro_lgpd_check_value(cf, param)
                               != NGX_OK)
        {
            if (param->len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty value in \"%V\"", &value[i]);
            }

            return NGX_CONF_ERROR;
        }

        /* Expires takes an HTTP date, or "0" for "already expired" */

        if (param == &policy->expires
            && !(param->len == 1 && param->data[0] == '0')
            && ngx_parse_http_time(param->data, param->len) == NGX_ERROR)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid Expires value \"%V\", expected 0 or "
                               "an HTTP date such as "
                               "\"Thu, 01 Jan 1970 00:00:00 GMT\"", param);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* neonpro_legal_bases and neonpro_legal_purposes: lists of tokens */
static char *
ngx_neonpro_lgpd_token_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char        c;
    ngx_str_t    *value, *token;
    ngx_uint_t    i, j;
    ngx_array_t **list;

    list = (ngx_array_t **) (p + cmd->offset);

    if (*list != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < value[i].len; j++) {
            c = value[i].data[j];

            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                  || c == '_'))
            {
                break;
            }
        }

        if (value[i].len == 0 || value[i].len > NGX_NEONPRO_TOKEN_MAX
            || j != value[i].len)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", expected 1 to 64 "
                               "characters of a-z, 0-9 and _", &value[i]);
            return NGX_CONF_ERROR;
        }

        token = ngx_array_push(*list);
        if (token == NULL) {
            return NGX_CONF_ERROR;
        }

        *token = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_neonpro_lgpd_check_security_value(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value)
{
    ssize_t  offset;

    if (name->len == sizeof("Permissions-Policy") - 1
        && ngx_strncasecmp(name->data, (u_char *) "Permissions-Policy",
                           name->len) == 0)
    {
        offset = ngx_neonpro_sfv_check_dictionary(value->data, value->len);

        if (offset >= 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid Permissions-Policy \"%V\" at "
                               "offset %z, expected a structured-field "
                               "dictionary such as "
                               "\"camera=(self), geolocation=()\"",
                               value, offset);
            return NGX_ERROR;
        }
    }

    if (name->len == sizeof("Content-Security-Policy") - 1
        && ngx_strncasecmp(name->data, (u_char *) "Content-Security-Policy",
                           name->len) == 0
        && (ngx_strlcasestrn(value->data, value->data + value->len,
                             (u_char *) "'unsafe-inline'", 15 - 1)
            || ngx_strlcasestrn(value->data, value->data + value->len,
                                (u_char *) "'unsafe-eval'", 13 - 1)))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "Content-Security-Policy \"%V\" allows "
                           "'unsafe-inline' or 'unsafe-eval'", value);
    }

    return NGX_OK;
}


/* neonpro_security_header and neonpro_compliance_header */
static char *
ngx_neonpro_lgpd_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    size_t        i;
    u_char        c;
    ngx_str_t    *value, *owned;
    ngx_uint_t    patient_only;
    ngx_array_t **list;

    list = (ngx_array_t **) (p + cmd->offset);
    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-'))
        {
            break;
        }
    }

    if (value[1].len == 0 || i != value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\", expected letters, "
                           "digits and \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (owned = ngx_neonpro_lgpd_owned; owned->len; owned++) {
        if (owned->len == value[1].len
            && ngx_strncasecmp(owned->data, value[1].data, owned->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "header \"%V\" is set by the data class and "
                               "cannot be configured here", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[2].len == 0 || ngx_neonpro_lgpd_check_value(cf, &value[2])
                             != NGX_OK)
    {
        if (value[2].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty value for header \"%V\", use \"off\" "
                               "to remove it", &value[1]);
        }

        return NGX_CONF_ERROR;
    }

    patient_only = 0;

    if (cf->args->nelts == 4) {
        if (value[3].len != 7
            || ngx_strncmp(value[3].data, "patient", 7) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"patient\"", &value[3]);
            return NGX_CONF_ERROR;
        }

        patient_only = 1;
    }

    if (ngx_neonpro_lgpd_check_security_value(cf, &value[1], &value[2])
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (*list == NGX_CONF_UNSET_PTR) {
        *list = NULL;
    }

    if (ngx_neonpro_headers_set(cf, list, &value[1], &value[2], patient_only)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_neonpro_lgpd_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_neonpro_lgpd_variables; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_neonpro_lgpd_create_loc_conf(ngx_conf_t *cf)
{
    ngx_neonpro_lgpd_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_neonpro_lgpd_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->cache[] = { unset policies };
     *     conf->compliance_headers = NULL;
     *     conf->security_headers = NULL;
     *     conf->agent = 0;
     */

    conf->data_class = NGX_CONF_UNSET_UINT;
    conf->marker = NGX_CONF_UNSET;
    conf->legal_basis = NGX_CONF_UNSET;
    conf->check_basis = NGX_CONF_UNSET;
    conf->legal_bases = NGX_CONF_UNSET_PTR;
    conf->legal_purposes = NGX_CONF_UNSET_PTR;
    conf->compliance = NGX_CONF_UNSET;
    conf->compliance_own = NGX_CONF_UNSET_PTR;
    conf->security = NGX_CONF_UNSET;
    conf->security_own = NGX_CONF_UNSET_PTR;
    conf->json_errors = NGX_CONF_UNSET;
    conf->json_errors_on = NGX_CONF_UNSET;

    return conf;
}


static ngx_array_t *
ngx_neonpro_lgpd_default_tokens(ngx_conf_t *cf, const char **tokens)
{
    ngx_str_t    *token;
    ngx_array_t  *list;

    list = ngx_array_create(cf->pool, 16, sizeof(ngx_str_t));
    if (list == NULL) {
        return NULL;
    }

    for ( /* void */ ; *tokens; tokens++) {
        token = ngx_array_push(list);
        if (token == NULL) {
            return NULL;
        }

        token->data = (u_char *) *tokens;
        token->len = ngx_strlen(*tokens);
    }

    return list;
}


/*
 * Gives the http{} level its effective header lists.  nginx never merges
 * that level into anything, so its lists are completed on first use by a
 * server{} below it.
 */
static ngx_int_t
ngx_neonpro_lgpd_complete_parent(ngx_conf_t *cf,
    ngx_neonpro_lgpd_loc_conf_t *prev)
{
    ngx_array_t  *defaults;

    if (prev->security_headers == NULL) {
        defaults = ngx_neonpro_headers_defaults(cf,
                                           ngx_neonpro_lgpd_default_security);
        if (defaults == NULL) {
            return NGX_ERROR;
        }

        prev->security_headers = ngx_neonpro_headers_overlay(cf,
            prev->security_own == NGX_CONF_UNSET_PTR ? NULL
                                                     : prev->security_own,
            defaults);
        if (prev->security_headers == NULL) {
            return NGX_ERROR;
        }
    }

    if (prev->compliance_headers == NULL) {
        defaults = ngx_neonpro_headers_defaults(cf,
                                         ngx_neonpro_lgpd_default_compliance);
        if (defaults == NULL) {
            return NGX_ERROR;
        }

        prev->compliance_headers = ngx_neonpro_headers_overlay(cf,
            prev->compliance_own == NGX_CONF_UNSET_PTR ? NULL
                                                       : prev->compliance_own,
            defaults);
        if (prev->compliance_headers == NULL) {
            return NGX_ERROR;
        }
    }

    if (prev->legal_bases == NGX_CONF_UNSET_PTR) {
        prev->legal_bases = ngx_neonpro_lgpd_default_tokens(cf,
                                              ngx_neonpro_lgpd_default_bases);
        if (prev->legal_bases == NULL) {
            return NGX_ERROR;
        }
    }

    if (prev->legal_purposes == NGX_CONF_UNSET_PTR) {
        prev->legal_purposes = ngx_neonpro_lgpd_default_tokens(cf,
                                           ngx_neonpro_lgpd_default_purposes);
        if (prev->legal_purposes == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static char *
ngx_neonpro_lgpd_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_neonpro_lgpd_loc_conf_t *prev = parent;
    ngx_neonpro_lgpd_loc_conf_t *conf = child;

    ngx_uint_t  i;

    if (ngx_neonpro_lgpd_complete_parent(cf, prev) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(conf->data_class, prev->data_class,
                              NGX_NEONPRO_CLASS_NONE);

    for (i = 0; i < NGX_NEONPRO_POLICY_N; i++) {
        if (!conf->cache[i].set) {
            conf->cache[i] = prev->cache[i].set
                             ? prev->cache[i]
                             : ngx_neonpro_lgpd_default_policies[i];
        }
    }

    ngx_conf_merge_value(conf->marker, prev->marker, 0);
    ngx_conf_merge_value(conf->compliance, prev->compliance, 1);
    ngx_conf_merge_value(conf->security, prev->security, 1);

    ngx_conf_merge_ptr_value(conf->legal_bases, prev->legal_bases, NULL);
    ngx_conf_merge_ptr_value(conf->legal_purposes, prev->legal_purposes,
                             NULL);

    conf->security_headers = ngx_neonpro_headers_overlay(cf,
        conf->security_own == NGX_CONF_UNSET_PTR ? NULL : conf->security_own,
        prev->security_headers);

    conf->compliance_headers = ngx_neonpro_headers_overlay(cf,
        conf->compliance_own == NGX_CONF_UNSET_PTR ? NULL
                                                   : conf->compliance_own,
        prev->compliance_headers);

    if (conf->security_headers == NULL || conf->compliance_headers == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * An explicit on/off is inherited as such; left unset, the check
     * follows this location's class and JSON errors follow its class or
     * its use of neonpro_agent_pass.
     */

    if (conf->legal_basis == NGX_CONF_UNSET) {
        conf->legal_basis = prev->legal_basis;
    }

    conf->check_basis = (conf->legal_basis == NGX_CONF_UNSET)
                        ? conf->data_class == NGX_NEONPRO_CLASS_PATIENT
                        : conf->legal_basis;

    if (conf->json_errors == NGX_CONF_UNSET) {
        conf->json_errors = prev->json_errors;
    }

    conf->json_errors_on = (conf->json_errors == NGX_CONF_UNSET)
                           ? (conf->data_class >= NGX_NEONPRO_CLASS_API
                              || conf->agent)
                           : conf->json_errors;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_neonpro_lgpd_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_neonpro_lgpd_access_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_neonpro_lgpd_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_neonpro_lgpd_body_filter;

    return NGX_OK;
}
