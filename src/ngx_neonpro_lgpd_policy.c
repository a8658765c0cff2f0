
/*
 * The LGPD policy of one response: the class after the upstream's marker,
 * the legal-basis check, the replacement of a response by a JSON error, and
 * the Cache-Control, compliance and security headers of the class.
 */


#include "ngx_neonpro_error.h"
#include "ngx_neonpro_headers.h"
#include "ngx_neonpro_lgpd.h"


ngx_neonpro_name_t  ngx_neonpro_lgpd_class_names[] = {
    { ngx_string("off"), NGX_NEONPRO_CLASS_NONE },
    { ngx_string("static"), NGX_NEONPRO_CLASS_STATIC },
    { ngx_string("image"), NGX_NEONPRO_CLASS_IMAGE },
    { ngx_string("api"), NGX_NEONPRO_CLASS_API },
    { ngx_string("patient"), NGX_NEONPRO_CLASS_PATIENT },
    { ngx_string("sensitive"), NGX_NEONPRO_CLASS_PATIENT },
    { ngx_string("medical"), NGX_NEONPRO_CLASS_PATIENT },
    { ngx_null_string, 0 }
};


/* the name a class is reported under, indexed by ngx_neonpro_class_e */
ngx_str_t  ngx_neonpro_lgpd_class_labels[] = {
    ngx_null_string,
    ngx_string("static"),
    ngx_string("image"),
    ngx_string("api"),
    ngx_string("patient")
};


/* response headers the filter always owns, besides the configured ones */
ngx_str_t  ngx_neonpro_lgpd_owned[] = {
    ngx_string("cache-control"),
    ngx_string("pragma"),
    ngx_string("expires"),
    ngx_string("x-data-classification"),
    ngx_string("x-lgpd-processing-basis"),
    ngx_null_string
};


static ngx_str_t  ngx_neonpro_cache_control_name = ngx_string("Cache-Control");
static ngx_str_t  ngx_neonpro_cache_control_lc = ngx_string("cache-control");
static ngx_str_t  ngx_neonpro_pragma_name = ngx_string("Pragma");
static ngx_str_t  ngx_neonpro_pragma_lc = ngx_string("pragma");
static ngx_str_t  ngx_neonpro_expires_name = ngx_string("Expires");
static ngx_str_t  ngx_neonpro_expires_lc = ngx_string("expires");
static ngx_str_t  ngx_neonpro_vary_name = ngx_string("Vary");
static ngx_str_t  ngx_neonpro_vary_lc = ngx_string("vary");
static ngx_str_t  ngx_neonpro_vary_value = ngx_string("Authorization, Cookie");
static ngx_str_t  ngx_neonpro_class_name = ngx_string("X-Data-Classification");
static ngx_str_t  ngx_neonpro_class_lc = ngx_string("x-data-classification");
static ngx_str_t  ngx_neonpro_basis_name =
    ngx_string("X-LGPD-Processing-Basis");
static ngx_str_t  ngx_neonpro_basis_lc = ngx_string("x-lgpd-processing-basis");


static ngx_str_t *
ngx_neonpro_lgpd_find_token(ngx_array_t *list, ngx_str_t *value)
{
    ngx_str_t   *token;
    ngx_uint_t   i;

    token = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (token[i].len == value->len
            && ngx_strncasecmp(token[i].data, value->data, value->len) == 0)
        {
            return &token[i];
        }
    }

    return NULL;
}


/* Appends the allowed values to an error detail, in the client's language. */
static ngx_int_t
ngx_neonpro_lgpd_list_allowed(ngx_http_request_t *r, ngx_str_t *detail,
    ngx_array_t *list)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *token;
    ngx_uint_t   i;
    const char  *label;

    label = ngx_neonpro_request_lang(r) == NGX_NEONPRO_LANG_EN
            ? "; allowed: " : "; aceitos: ";

    token = list->elts;
    len = detail->len + ngx_strlen(label);

    for (i = 0; i < list->nelts; i++) {
        len += token[i].len + 2;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    detail->data = ngx_cpymem(p, detail->data, detail->len);
    detail->data = ngx_cpymem(detail->data, label, ngx_strlen(label));

    for (i = 0; i < list->nelts; i++) {
        if (i) {
            *detail->data++ = ',';
            *detail->data++ = ' ';
        }

        detail->data = ngx_cpymem(detail->data, token[i].data, token[i].len);
    }

    detail->len = detail->data - p;
    detail->data = p;

    return NGX_OK;
}


/*
 * Returns NGX_DECLINED when both headers carry an allowed value, or 403
 * with the JSON error recorded in ctx.
 */
ngx_int_t
ngx_neonpro_lgpd_check_basis(ngx_http_request_t *r,
    ngx_neonpro_lgpd_loc_conf_t *lcf, ngx_neonpro_ctx_t *ctx)
{
    ngx_str_t         name, detail, *basis;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    static struct {
        ngx_str_t     name;
        const char   *lowcase;
        size_t        offset;
    } headers[] = {
        { ngx_string("X-LGPD-Purpose"), "x-lgpd-purpose",
          offsetof(ngx_neonpro_lgpd_loc_conf_t, legal_purposes) },
        { ngx_string("X-LGPD-Legal-Basis"), "x-lgpd-legal-basis",
          offsetof(ngx_neonpro_lgpd_loc_conf_t, legal_bases) },
    };

    basis = NULL;

    for (i = 0; i < 2; i++) {
        name = headers[i].name;

        h = ngx_neonpro_find_header_in(r, headers[i].lowcase, name.len);

        if (h == NULL || h->value.len == 0) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "neonpro: request to a patient route without "
                          "the \"%V\" header", &name);

            return ngx_neonpro_error(r, NGX_HTTP_FORBIDDEN,
                                     "LGPD_LEGAL_BASIS_REQUIRED", &name);
        }

        basis = ngx_neonpro_lgpd_find_token(
                    *(ngx_array_t **) ((u_char *) lcf + headers[i].offset),
                    &h->value);

        if (basis == NULL) {
            ngx_neonpro_error_quote(r->pool, &detail,
                                    (const char *) name.data, &h->value);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "neonpro: %V is not an allowed value", &detail);

            if (ngx_neonpro_lgpd_list_allowed(r, &detail,
                    *(ngx_array_t **) ((u_char *) lcf + headers[i].offset))
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_neonpro_error(r, NGX_HTTP_FORBIDDEN,
                                     "LGPD_LEGAL_BASIS_INVALID", &detail);
        }
    }

    ctx->legal_basis = *basis;
    ctx->basis_checked = 1;

    return NGX_DECLINED;
}


/*
 * Returns the location's class, raised by the upstream's
 * X-Data-Classification header when that names a higher class.
 */
ngx_uint_t
ngx_neonpro_lgpd_response_class(ngx_http_request_t *r,
    ngx_neonpro_lgpd_loc_conf_t *lcf)
{
    ngx_str_t            value;
    ngx_uint_t           i, cls;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h;
    ngx_neonpro_name_t  *n;

    cls = lcf->data_class;

    if (cls == NGX_NEONPRO_CLASS_NONE || r->upstream == NULL) {
        return cls;
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || !ngx_neonpro_headers_match(&h[i], &ngx_neonpro_class_lc))
        {
            continue;
        }

        value = h[i].value;

        for (n = ngx_neonpro_lgpd_class_names; n->name.len; n++) {
            if (n->name.len == value.len
                && ngx_strncasecmp(n->name.data, value.data, value.len) == 0)
            {
                break;
            }
        }

        if (n->name.len == 0) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "neonpro: ignored unknown upstream "
                          "X-Data-Classification \"%V\"", &value);
            continue;
        }

        if (n->value > cls) {
            cls = n->value;
        }
    }

    return cls;
}


/*
 * Replaces the upstream's response by the error recorded in ctx: every
 * upstream header goes, and the body filter drops the upstream body.
 */
ngx_int_t
ngx_neonpro_lgpd_block(ngx_http_request_t *r, ngx_neonpro_ctx_t *ctx)
{
    ngx_http_headers_out_t  *ho;

    ho = &r->headers_out;

    if (ngx_list_init(&ho->headers, r->pool, 16, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_null(&ho->status_line);

    ho->server = NULL;
    ho->date = NULL;
    ho->content_length = NULL;
    ho->content_encoding = NULL;
    ho->location = NULL;
    ho->refresh = NULL;
    ho->last_modified = NULL;
    ho->content_range = NULL;
    ho->accept_ranges = NULL;
    ho->www_authenticate = NULL;
    ho->expires = NULL;
    ho->etag = NULL;
    ho->cache_control.nelts = 0;
    ho->link.nelts = 0;
    ho->last_modified_time = -1;

    r->allow_ranges = 0;

    /* the reset dropped the echoed X-Request-Id: write it again */
    ngx_str_null(&ctx->request_id);

    if (ngx_neonpro_error_prepare(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->replace_body = 1;

    return NGX_OK;
}


static ngx_uint_t
ngx_neonpro_lgpd_policy_index(ngx_http_request_t *r, ngx_uint_t cls)
{
    /*
     * A shared cache must not keep a failure of the api, image or static
     * classes for their whole max-age.  Patient errors keep the patient
     * policy, which already forbids storing.
     */

    if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST
        && cls != NGX_NEONPRO_CLASS_PATIENT)
    {
        return NGX_NEONPRO_POLICY_ERROR;
    }

    switch (cls) {

    case NGX_NEONPRO_CLASS_PATIENT:
        return NGX_NEONPRO_POLICY_PATIENT;

    case NGX_NEONPRO_CLASS_API:
        if (r->headers_in.authorization || r->headers_in.cookies.nelts) {
            return NGX_NEONPRO_POLICY_CREDENTIALED;
        }

        return NGX_NEONPRO_POLICY_API;

    case NGX_NEONPRO_CLASS_IMAGE:
        return NGX_NEONPRO_POLICY_IMAGE;

    default:
        return NGX_NEONPRO_POLICY_STATIC;
    }
}


static ngx_uint_t
ngx_neonpro_lgpd_is_listed(ngx_table_elt_t *h, ngx_array_t *list)
{
    ngx_uint_t             i;
    ngx_neonpro_header_t  *entry;

    entry = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (ngx_neonpro_headers_match(h, &entry[i].lowcase_name)) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_neonpro_lgpd_push_list(ngx_http_request_t *r, ngx_array_t *list,
    ngx_uint_t cls)
{
    ngx_uint_t             i;
    ngx_neonpro_header_t  *entry;

    entry = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (entry[i].patient_only && cls != NGX_NEONPRO_CLASS_PATIENT) {
            continue;
        }

        if (ngx_neonpro_headers_push(r, &entry[i].name,
                                     &entry[i].lowcase_name, &entry[i].value)
            == NULL)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_neonpro_lgpd_apply_policy(ngx_http_request_t *r,
    ngx_neonpro_lgpd_loc_conf_t *lcf, ngx_neonpro_ctx_t *ctx)
{
    ngx_str_t                    *owned;
    ngx_uint_t                    i, cls, policy_index, compliance;
    ngx_list_part_t              *part;
    ngx_table_elt_t              *h;
    ngx_neonpro_cache_policy_t   *policy;

    cls = ctx->data_class;
    policy_index = ngx_neonpro_lgpd_policy_index(r, cls);
    policy = &lcf->cache[policy_index];
    compliance = lcf->compliance && cls >= NGX_NEONPRO_CLASS_API;

    /*
     * Drop every copy of the headers this filter owns, the compliance ones
     * too on image and static responses, which must not carry them.
     */

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        for (owned = ngx_neonpro_lgpd_owned; owned->len; owned++) {
            if (ngx_neonpro_headers_match(&h[i], owned)) {
                h[i].hash = 0;
                break;
            }
        }

        if (h[i].hash
            && ((lcf->security
                 && ngx_neonpro_lgpd_is_listed(&h[i], lcf->security_headers))
                || (lcf->compliance
                    && ngx_neonpro_lgpd_is_listed(&h[i],
                                                  lcf->compliance_headers))))
        {
            h[i].hash = 0;
        }
    }

    r->headers_out.cache_control.nelts = 0;
    r->headers_out.expires = NULL;

    /* then write this class's policy */

    if (ngx_neonpro_headers_push(r, &ngx_neonpro_cache_control_name,
                                 &ngx_neonpro_cache_control_lc,
                                 &policy->cache_control)
        == NULL)
    {
        return NGX_ERROR;
    }

    if (policy->pragma.len
        && ngx_neonpro_headers_push(r, &ngx_neonpro_pragma_name,
                                    &ngx_neonpro_pragma_lc, &policy->pragma)
           == NULL)
    {
        return NGX_ERROR;
    }

    if (policy->expires.len) {
        h = ngx_neonpro_headers_push(r, &ngx_neonpro_expires_name,
                                     &ngx_neonpro_expires_lc,
                                     &policy->expires);
        if (h == NULL) {
            return NGX_ERROR;
        }

        r->headers_out.expires = h;
    }

    if (policy_index == NGX_NEONPRO_POLICY_CREDENTIALED
        && ngx_neonpro_headers_push(r, &ngx_neonpro_vary_name,
                                    &ngx_neonpro_vary_lc,
                                    &ngx_neonpro_vary_value)
           == NULL)
    {
        return NGX_ERROR;
    }

    if (compliance
        && ngx_neonpro_lgpd_push_list(r, lcf->compliance_headers, cls)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((lcf->marker || (compliance && cls == NGX_NEONPRO_CLASS_PATIENT))
        && ngx_neonpro_headers_push(r, &ngx_neonpro_class_name,
                                    &ngx_neonpro_class_lc,
                                    &ngx_neonpro_lgpd_class_labels[cls])
           == NULL)
    {
        return NGX_ERROR;
    }

    if (compliance
        && cls == NGX_NEONPRO_CLASS_PATIENT
        && ctx->legal_basis.len
        && ngx_neonpro_headers_push(r, &ngx_neonpro_basis_name,
                                    &ngx_neonpro_basis_lc, &ctx->legal_basis)
           == NULL)
    {
        return NGX_ERROR;
    }

    if (lcf->security
        && ngx_neonpro_lgpd_push_list(r, lcf->security_headers, cls)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
