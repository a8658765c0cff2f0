
/*
 * The libcurl adapter: one curl multi handle per worker driven by nginx's
 * event loop.  curl's sockets become nginx connections and curl's timer an
 * nginx timer, and host names are resolved when the configuration is read,
 * so a transfer does not block the worker.
 */


#ifndef _NGX_NEONPRO_CURL_H_INCLUDED_
#define _NGX_NEONPRO_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <curl/curl.h>


/*
 * Called once when a transfer ends, with curl's result.  The adapter has
 * removed the easy handle from the multi handle by then; the callback owns
 * it again and may clean it up.
 */
typedef void (*ngx_neonpro_curl_done_pt)(void *data, CURLcode result);


char *ngx_neonpro_curl_set_url(ngx_conf_t *cf, ngx_str_t *url,
    const char *what, ngx_str_t *out, void **resolve);
ngx_int_t ngx_neonpro_curl_global_init(ngx_log_t *log);
ngx_int_t ngx_neonpro_curl_add(CURL *easy, ngx_neonpro_curl_done_pt done,
    void *data, ngx_log_t *log);
void ngx_neonpro_curl_remove(CURL *easy);
void ngx_neonpro_curl_exit_process(void);


#endif /* _NGX_NEONPRO_CURL_H_INCLUDED_ */
