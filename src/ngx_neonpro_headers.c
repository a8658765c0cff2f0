
/*
 * Header lists of the LGPD filter.
 *
 * Inheritance is per name: a level inherits every header of the enclosing
 * level and overrides only the names it sets itself, or removes one with
 * the value "off".  nginx's add_header instead drops all inherited headers
 * as soon as a level has one of its own, which is how HSTS or no-store gets
 * lost in a single location.
 */


#include "ngx_neonpro_headers.h"


static ngx_neonpro_header_t *
ngx_neonpro_headers_find(ngx_array_t *list, ngx_str_t *lowcase_name)
{
    ngx_uint_t             i;
    ngx_neonpro_header_t  *h;

    if (list == NULL) {
        return NULL;
    }

    h = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (h[i].lowcase_name.len == lowcase_name->len
            && ngx_strncmp(h[i].lowcase_name.data, lowcase_name->data,
                           lowcase_name->len) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_neonpro_headers_set(ngx_conf_t *cf, ngx_array_t **list, ngx_str_t *name,
    ngx_str_t *value, ngx_uint_t patient_only)
{
    ngx_str_t              lowcase;
    ngx_neonpro_header_t  *h;

    lowcase.len = name->len;
    lowcase.data = ngx_pnalloc(cf->pool, name->len);
    if (lowcase.data == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(lowcase.data, name->data, name->len);

    if (*list == NULL) {
        *list = ngx_array_create(cf->pool, 8, sizeof(ngx_neonpro_header_t));
        if (*list == NULL) {
            return NGX_ERROR;
        }
    }

    h = ngx_neonpro_headers_find(*list, &lowcase);

    if (h == NULL) {
        h = ngx_array_push(*list);
        if (h == NULL) {
            return NGX_ERROR;
        }
    }

    h->name = *name;
    h->lowcase_name = lowcase;
    h->patient_only = patient_only ? 1 : 0;

    if (value->len == 3 && ngx_strncmp(value->data, "off", 3) == 0) {
        h->removed = 1;
        ngx_str_null(&h->value);

    } else {
        h->removed = 0;
        h->value = *value;
    }

    return NGX_OK;
}


ngx_array_t *
ngx_neonpro_headers_defaults(ngx_conf_t *cf,
    ngx_neonpro_header_default_t *defaults)
{
    ngx_str_t      name, value;
    ngx_array_t   *list;

    list = NULL;

    for ( /* void */ ; defaults->name; defaults++) {
        name.data = (u_char *) defaults->name;
        name.len = ngx_strlen(defaults->name);
        value.data = (u_char *) defaults->value;
        value.len = ngx_strlen(defaults->value);

        if (ngx_neonpro_headers_set(cf, &list, &name, &value,
                                    defaults->patient_only)
            != NGX_OK)
        {
            return NULL;
        }
    }

    return list;
}


/*
 * Returns the effective list of a level: the inherited entries whose names
 * this level does not set, then this level's entries, without the removed
 * ones.
 */
ngx_array_t *
ngx_neonpro_headers_overlay(ngx_conf_t *cf, ngx_array_t *own,
    ngx_array_t *inherited)
{
    ngx_uint_t             i, n;
    ngx_array_t           *result;
    ngx_neonpro_header_t  *h, *out;

    n = (own ? own->nelts : 0) + (inherited ? inherited->nelts : 0);

    result = ngx_array_create(cf->pool, n ? n : 1,
                              sizeof(ngx_neonpro_header_t));
    if (result == NULL) {
        return NULL;
    }

    if (inherited) {
        h = inherited->elts;

        for (i = 0; i < inherited->nelts; i++) {
            if (h[i].removed
                || ngx_neonpro_headers_find(own, &h[i].lowcase_name))
            {
                continue;
            }

            out = ngx_array_push(result);
            if (out == NULL) {
                return NULL;
            }

            *out = h[i];
        }
    }

    if (own) {
        h = own->elts;

        for (i = 0; i < own->nelts; i++) {
            if (h[i].removed) {
                continue;
            }

            out = ngx_array_push(result);
            if (out == NULL) {
                return NULL;
            }

            *out = h[i];
        }
    }

    return result;
}


ngx_table_elt_t *
ngx_neonpro_headers_push(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *lowcase_name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key = *name;
    h->value = *value;
    h->lowcase_key = lowcase_name->data;

    return h;
}


/*
 * Compares by h->key because add_header leaves lowcase_key unset in the
 * response headers it pushes.
 */
ngx_uint_t
ngx_neonpro_headers_match(ngx_table_elt_t *h, ngx_str_t *lowcase)
{
    return h->key.len == lowcase->len
           && ngx_strncasecmp(h->key.data, lowcase->data, lowcase->len) == 0;
}
