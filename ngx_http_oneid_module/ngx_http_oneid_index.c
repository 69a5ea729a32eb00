
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The index of each user's sessions, kept in Redis so that all nodes
 * share it: what "log out everywhere", an administrator's revoke and
 * oneid_session_max_per_user act on.
 *
 * Key:    <prefix>user:<hex HMAC-SHA256 of the PINFL>, under the key made
 *         from the server key for this purpose: a PINFL has only 10^14
 *         values, so a plain hash of it would be reversed by trying them.
 *         A rotated server key leaves the index under the old key; it is
 *         read too, and moved under the current one at the next login.
 * Fields: the session's hash (as in its key) -> a JSON object: login time,
 *         timeouts, the login's sequence number, which orders them, and
 *         "details": client address, user agent and auth method at login,
 *         sealed under the server key made for them (AES-256-GCM,
 *         base64url), so that Redis alone holds no more than hashes, times
 *         and counts.  Entries from before 0.7.0 have the details in
 *         clear.
 *
 * Every change is one Lua script, so that logins racing on several nodes
 * see each other.  An entry is pruned when a script touches the index
 * once its session and its OneID token are both gone or its lifetime is
 * over, and the index expires with its longest-lived entry: it never
 * holds more than one session lifetime of logins.
 *
 * A session ended by someone else than its browser is replaced by a
 * marker (ngx_http_oneid_session.h) for the rest of its idle timeout,
 * and its hash is published on <prefix>revoked, so that every node drops
 * it from its cache at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_flow.h"
#include "ngx_http_oneid_index.h"
#include "ngx_http_oneid_key.h"
#include "ngx_http_oneid_session.h"


/* the user agent kept for a list of sessions, in printable ASCII */
#define NGX_HTTP_ONEID_INDEX_UA_MAX  160


static ngx_int_t ngx_http_oneid_index_keys(ngx_http_request_t *r,
    ngx_str_t *pinfl, ngx_http_oneid_index_cmd_t *cmd);
static void ngx_http_oneid_index_eval(ngx_http_oneid_index_cmd_t *cmd,
    const char *script);
static ngx_int_t ngx_http_oneid_index_numkeys(ngx_http_request_t *r,
    ngx_http_oneid_index_cmd_t *cmd);
static ngx_int_t ngx_http_oneid_index_entry(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_identity_t *id,
    ngx_str_t *entry);
static ngx_int_t ngx_http_oneid_index_details(ngx_http_request_t *r,
    ngx_http_oneid_identity_t *id, ngx_str_t *details);
static ngx_int_t ngx_http_oneid_index_dump(ngx_pool_t *pool, json_t *o,
    ngx_str_t *out);


/*
 * A login: first its state is marked used (a replayed callback gets
 * "used").  Then, if the tabs of this browser made a session for this
 * user within NGX_HTTP_ONEID_TABS_TTL and it is still alive, that one is
 * shared: "=<sealed id>".  Otherwise the session the browser had before
 * (its hash, or "") ends, a new session, its OneID token and its entry
 * are made, the entries of the sessions gone are pruned and, over the
 * limit, the oldest sessions ended.  KEYS: session, token, used marker,
 * tabs, the index under each server key, the current first.  ARGV:
 * record, token, entry, prefix, "timeout lifetime max now hash tabs_ttl
 * state_ttl", the sealed id for the tabs or "", the old session's hash or
 * "".  Returns "<live sessions>\n" then "<hash> <token>" per session
 * ended.
 */

static const char  ngx_http_oneid_index_login_lua[] =
"local a = {}\n"
"for w in string.gmatch(ARGV[5], '%S+') do a[#a + 1] = w end\n"
"local timeout, lifetime, max, now = a[1], a[2], tonumber(a[3]), "
"tonumber(a[4])\n"
"local prefix, hash, idx, old = ARGV[4], a[5], KEYS[5], ARGV[7]\n"
"if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', a[7]) then\n"
"  return 'used'\n"
"end\n"
"if ARGV[6] ~= '' then\n"
"  local t = redis.call('GET', KEYS[4])\n"
"  if t then\n"
"    local h = string.sub(t, 1, 64)\n"
"    local s = redis.call('GET', prefix .. 'session:' .. h)\n"
"    if s and string.sub(s, 1, 2) ~= 'E\\n' then\n"
"      if old ~= '' and old ~= h then\n"
"        redis.call('DEL', prefix .. 'session:' .. old, "
"prefix .. 'token:' .. old)\n"
"        redis.call('PUBLISH', prefix .. 'revoked', old)\n"
"      end\n"
"      return '=' .. string.sub(t, 66)\n"
"    end\n"
"  end\n"
"end\n"
"if old ~= '' then\n"
"  redis.call('DEL', prefix .. 'session:' .. old, prefix .. 'token:' .. old)\n"
"  redis.call('PUBLISH', prefix .. 'revoked', old)\n"
"end\n"
"redis.call('SET', KEYS[1], ARGV[1], 'EX', timeout)\n"
"if ARGV[2] ~= '' then\n"
"  redis.call('SET', KEYS[2], ARGV[2], 'EX', lifetime)\n"
"end\n"
"if ARGV[6] ~= '' then\n"
"  redis.call('SET', KEYS[4], hash .. ' ' .. ARGV[6], 'EX', a[6])\n"
"end\n"
"for i = 6, #KEYS do\n"
"  local prev = redis.call('HGETALL', KEYS[i])\n"
"  for j = 1, #prev, 2 do\n"
"    redis.call('HSETNX', idx, prev[j], prev[j + 1])\n"
"  end\n"
"  redis.call('DEL', KEYS[i])\n"
"end\n"
"local e = cjson.decode(ARGV[3])\n"
"e.seq = redis.call('INCR', prefix .. 'login-seq')\n"
"redis.call('HSET', idx, hash, cjson.encode(e))\n"
"local live, longest, all = {}, 0, redis.call('HGETALL', idx)\n"
"for j = 1, #all, 2 do\n"
"  local h = all[j]\n"
"  local ok, x = pcall(cjson.decode, all[j + 1])\n"
"  local s = redis.call('GET', prefix .. 'session:' .. h)\n"
"  local t = redis.call('EXISTS', prefix .. 'token:' .. h)\n"
"  if not ok or type(x.login) ~= 'number' or type(x.lifetime) ~= 'number'\n"
"     or x.login + x.lifetime <= now or (not s and t == 0) then\n"
"    redis.call('HDEL', idx, h)\n"
"  else\n"
"    if x.lifetime > longest then longest = x.lifetime end\n"
"    if s and string.sub(s, 1, 2) ~= 'E\\n' then\n"
"      live[#live + 1] = {h, tonumber(x.seq) or 0}\n"
"    end\n"
"  end\n"
"end\n"
"if longest > 0 then redis.call('EXPIRE', idx, longest) end\n"
"local out, gone = {}, {}\n"
"if max > 0 and #live > max then\n"
"  table.sort(live, function(p, q) return p[2] < q[2] end)\n"
"  for k = 1, #live - max do\n"
"    local h = live[k][1]\n"
"    local tok = redis.call('GET', prefix .. 'token:' .. h)\n"
"    redis.call('SET', prefix .. 'session:' .. h, 'E\\nevicted', "
"'KEEPTTL')\n"
"    redis.call('DEL', prefix .. 'token:' .. h)\n"
"    redis.call('HDEL', idx, h)\n"
"    gone[#gone + 1] = h\n"
"    out[#out + 1] = h .. ' ' .. (tok or '')\n"
"  end\n"
"  redis.call('PUBLISH', prefix .. 'revoked', table.concat(gone, ' '))\n"
"end\n"
"return (#live - #gone) .. '\\n' .. table.concat(out, '\\n')\n";


/*
 * Every session of a user ends; the caller's own (ARGV[3]) is deleted,
 * the others are replaced by the marker ARGV[2].  KEYS: the indexes.
 * ARGV: prefix, why, own hash or "".  Returns "<sessions ended>\n" then
 * the OneID tokens still kept, one per line, the caller's own first (the
 * computer in front of the user matters most if not all can be ended).
 */

static const char  ngx_http_oneid_index_end_all_lua[] =
"local prefix, n, gone, tokens = ARGV[1], 0, {}, {}\n"
"for i = 1, #KEYS do\n"
"  local all = redis.call('HGETALL', KEYS[i])\n"
"  for j = 1, #all, 2 do\n"
"    local h = all[j]\n"
"    local s, t = prefix .. 'session:' .. h, prefix .. 'token:' .. h\n"
"    local tok = redis.call('GET', t)\n"
"    if tok and tok ~= '' then\n"
"      if h == ARGV[3] then table.insert(tokens, 1, tok)\n"
"      else tokens[#tokens + 1] = tok end\n"
"    end\n"
"    redis.call('DEL', t)\n"
"    local v = redis.call('GET', s)\n"
"    if v and string.sub(v, 1, 2) ~= 'E\\n' then n = n + 1 end\n"
"    if h == ARGV[3] then\n"
"      redis.call('DEL', s)\n"
"    elseif v and string.sub(v, 1, 2) ~= 'E\\n' then\n"
"      redis.call('SET', s, 'E\\n' .. ARGV[2], 'KEEPTTL')\n"
"    end\n"
"    gone[#gone + 1] = h\n"
"  end\n"
"  redis.call('DEL', KEYS[i])\n"
"end\n"
"if #gone > 0 then\n"
"  redis.call('PUBLISH', prefix .. 'revoked', table.concat(gone, ' '))\n"
"end\n"
"return n .. '\\n' .. table.concat(tokens, '\\n')\n";


/*
 * The live sessions of a user, as a JSON array of their entries with
 * "idle_ttl" added.  KEYS: the indexes.  ARGV: prefix.
 */

static const char  ngx_http_oneid_index_list_lua[] =
"local out = {}\n"
"for i = 1, #KEYS do\n"
"  local all = redis.call('HGETALL', KEYS[i])\n"
"  for j = 1, #all, 2 do\n"
"    local s = ARGV[1] .. 'session:' .. all[j]\n"
"    local v = redis.call('GET', s)\n"
"    local ok, e = pcall(cjson.decode, all[j + 1])\n"
"    if ok and v and string.sub(v, 1, 2) ~= 'E\\n' then\n"
"      e.idle_ttl = redis.call('TTL', s)\n"
"      out[#out + 1] = e\n"
"    end\n"
"  end\n"
"end\n"
"if #out == 0 then return '[]' end\n"
"return cjson.encode(out)\n";


ngx_int_t
ngx_http_oneid_index_login(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_str_t *sid, ngx_str_t *record,
    ngx_http_oneid_identity_t *id, ngx_http_oneid_index_tabs_t *tabs,
    ngx_http_oneid_index_cmd_t *cmd)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                   *argv, hash, *prefix, data;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);
    prefix = ngx_http_oneid_redis_prefix(omcf->redis);
    argv = cmd->argv;

    ngx_http_oneid_index_eval(cmd, ngx_http_oneid_index_login_lua);

    if (ngx_http_oneid_session_key(r->pool, omcf->redis,
                                   "session", sid, &argv[3])
        != NGX_OK
        || ngx_http_oneid_session_key(r->pool, omcf->redis, "token", sid,
                                      &argv[4])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the used marker: "<prefix>used:<hash of the state>" */

    data = tabs->state;
    argv[5].len = prefix->len + sizeof("used:") - 1
                  + NGX_HTTP_ONEID_SHA256_HEX_LEN;
    argv[5].data = ngx_pnalloc(r->pool, argv[5].len);
    if (argv[5].data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(argv[5].data, prefix->data, prefix->len);
    p = ngx_cpymem(p, "used:", sizeof("used:") - 1);

    if (ngx_http_oneid_sha256_hex(p, data.data, data.len) != NGX_OK) {
        return NGX_ERROR;
    }

    /* without a browser cookie: a key never written */

    argv[6] = tabs->key.len ? tabs->key : argv[5];

    cmd->argc = 7;

    if (ngx_http_oneid_index_keys(r, &id->field[NGX_HTTP_ONEID_PIN], cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    hash.data = argv[3].data + argv[3].len - NGX_HTTP_ONEID_SHA256_HEX_LEN;
    hash.len = NGX_HTTP_ONEID_SHA256_HEX_LEN;

    if (ngx_http_oneid_index_numkeys(r, cmd) != NGX_OK) {
        return NGX_ERROR;
    }

    argv[cmd->argc++] = *record;

    if (ngx_http_oneid_session_encode_token(r->pool, omcf->keys, sid,
                                            &id->access_token,
                                            &argv[cmd->argc++])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_oneid_index_entry(r, olcf, id, &argv[cmd->argc++])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[cmd->argc++] = *prefix;

    len = 5 * NGX_TIME_T_LEN + NGX_INT_T_LEN + hash.len + 6;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    argv[cmd->argc].data = p;
    argv[cmd->argc].len = ngx_sprintf(p, "%T %T %ui %T %V %d %T",
                                      olcf->session_timeout,
                                      olcf->session_lifetime,
                                      olcf->max_per_user, ngx_time(), &hash,
                                      NGX_HTTP_ONEID_TABS_TTL,
                                      olcf->state_timeout)
                          - p;
    cmd->argc++;

    argv[cmd->argc++] = tabs->sealed;
    argv[cmd->argc++] = tabs->old;

    return NGX_OK;
}


/* "log out everywhere" (own_sid: the session asking) or a revoke (NULL) */

ngx_int_t
ngx_http_oneid_index_end_all(ngx_http_request_t *r, ngx_str_t *pinfl,
    const char *why, ngx_str_t *own_sid, ngx_http_oneid_index_cmd_t *cmd)
{
    ngx_str_t                   *argv;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);
    argv = cmd->argv;

    ngx_http_oneid_index_eval(cmd, ngx_http_oneid_index_end_all_lua);

    if (ngx_http_oneid_index_keys(r, pinfl, cmd) != NGX_OK
        || ngx_http_oneid_index_numkeys(r, cmd) != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[cmd->argc++] = *ngx_http_oneid_redis_prefix(omcf->redis);

    argv[cmd->argc].data = (u_char *) why;
    argv[cmd->argc].len = ngx_strlen(why);
    cmd->argc++;

    ngx_str_null(&argv[cmd->argc]);

    if (own_sid != NULL
        && ngx_http_oneid_session_hash(r->pool, own_sid, &argv[cmd->argc])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmd->argc++;

    return NGX_OK;
}


ngx_int_t
ngx_http_oneid_index_list(ngx_http_request_t *r, ngx_str_t *pinfl,
    ngx_http_oneid_index_cmd_t *cmd)
{
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    ngx_http_oneid_index_eval(cmd, ngx_http_oneid_index_list_lua);

    if (ngx_http_oneid_index_keys(r, pinfl, cmd) != NGX_OK
        || ngx_http_oneid_index_numkeys(r, cmd) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmd->argv[cmd->argc++] = *ngx_http_oneid_redis_prefix(omcf->redis);

    return NGX_OK;
}


/* a session its browser ended: out of the index; nobody waits for it */

void
ngx_http_oneid_index_remove(ngx_http_request_t *r, ngx_str_t *pinfl,
    ngx_str_t *sid)
{
    ngx_str_t                    argv[3], err;
    ngx_uint_t                   i;
    ngx_http_oneid_index_cmd_t   keys;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    keys.argc = 0;

    if (ngx_http_oneid_index_keys(r, pinfl, &keys) != NGX_OK
        || ngx_http_oneid_session_hash(r->pool, sid, &argv[2]) != NGX_OK)
    {
        return;
    }

    ngx_str_set(&argv[0], "HDEL");

    for (i = 0; i < keys.argc; i++) {
        argv[1] = keys.argv[i];

        (void) ngx_http_oneid_redis_command(omcf->redis, NULL, NULL, 3, argv,
                                            &err);
    }
}


/* a script's reply: "<count>\n<lines>"; rest is the lines */

ngx_int_t
ngx_http_oneid_index_reply(ngx_str_t *reply, ngx_uint_t *count,
    ngx_str_t *rest)
{
    u_char     *nl;
    ngx_int_t   n;

    nl = ngx_strlchr(reply->data, reply->data + reply->len, '\n');
    if (nl == NULL) {
        return NGX_ERROR;
    }

    n = ngx_atoi(reply->data, nl - reply->data);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    *count = n;

    rest->data = nl + 1;
    rest->len = reply->data + reply->len - rest->data;

    return NGX_OK;
}


/* the next line of rest, taken off it; NGX_DONE: none left */

ngx_int_t
ngx_http_oneid_index_next_line(ngx_str_t *rest, ngx_str_t *line)
{
    u_char  *nl, *last;

    if (rest->len == 0) {
        return NGX_DONE;
    }

    last = rest->data + rest->len;

    nl = ngx_strlchr(rest->data, last, '\n');
    if (nl == NULL) {
        nl = last;
    }

    line->data = rest->data;
    line->len = nl - rest->data;

    rest->data = (nl == last) ? last : nl + 1;
    rest->len = last - rest->data;

    return NGX_OK;
}


/* "EVAL <script> <numkeys>": the keys follow, counted by numkeys() */

static void
ngx_http_oneid_index_eval(ngx_http_oneid_index_cmd_t *cmd, const char *script)
{
    ngx_str_set(&cmd->argv[0], "EVAL");

    cmd->argv[1].data = (u_char *) script;
    cmd->argv[1].len = ngx_strlen(script);

    ngx_str_null(&cmd->argv[2]);

    cmd->argc = 3;
}


/* the keys added since eval() */

static ngx_int_t
ngx_http_oneid_index_numkeys(ngx_http_request_t *r,
    ngx_http_oneid_index_cmd_t *cmd)
{
    cmd->argv[2].data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (cmd->argv[2].data == NULL) {
        return NGX_ERROR;
    }

    cmd->argv[2].len = ngx_sprintf(cmd->argv[2].data, "%ui", cmd->argc - 3)
                       - cmd->argv[2].data;

    return NGX_OK;
}


/* the user's index under each server key, the current one first */

static ngx_int_t
ngx_http_oneid_index_keys(ngx_http_request_t *r, ngx_str_t *pinfl,
    ngx_http_oneid_index_cmd_t *cmd)
{
    u_char                      *p;
    ngx_str_t                   *prefix, *key;
    ngx_uint_t                   i, n;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);
    prefix = ngx_http_oneid_redis_prefix(omcf->redis);
    n = ngx_http_oneid_key_count(omcf->keys);

    for (i = 0; i < n; i++) {
        key = &cmd->argv[cmd->argc++];

        key->len = prefix->len + sizeof("user:") - 1
                   + NGX_HTTP_ONEID_SHA256_HEX_LEN;
        key->data = ngx_pnalloc(r->pool, key->len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(key->data, prefix->data, prefix->len);
        p = ngx_cpymem(p, "user:", sizeof("user:") - 1);

        if (ngx_http_oneid_key_mac_hex(omcf->keys, i,
                                       NGX_HTTP_ONEID_KEY_USER_INDEX, pinfl,
                                       p)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "oneid: cannot key the index of a user");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * What a list of the user's sessions shows, fixed at login: no session
 * id, no token; what it says of the computer sealed (see above).  The
 * user agent is the client's word: printable ASCII, shortened.
 */

static ngx_int_t
ngx_http_oneid_index_entry(ngx_http_request_t *r,
    ngx_http_oneid_loc_conf_t *olcf, ngx_http_oneid_identity_t *id,
    ngx_str_t *entry)
{
    json_t     *o;
    ngx_str_t   details;

    if (ngx_http_oneid_index_details(r, id, &details) != NGX_OK) {
        return NGX_ERROR;
    }

    o = json_pack("{s:I, s:I, s:I, s:s#}",
                  "login", (json_int_t) id->login_time,
                  "timeout", (json_int_t) olcf->session_timeout,
                  "lifetime", (json_int_t) olcf->session_lifetime,
                  "details", details.data, (int) details.len);

    return ngx_http_oneid_index_dump(r->pool, o, entry);
}


static ngx_int_t
ngx_http_oneid_index_details(ngx_http_request_t *r,
    ngx_http_oneid_identity_t *id, ngx_str_t *details)
{
    u_char                      *s, ua[NGX_HTTP_ONEID_INDEX_UA_MAX];
    size_t                       n, i;
    json_t                      *o;
    ngx_str_t                    plain, *method;
    ngx_http_oneid_main_conf_t  *omcf;

    n = 0;

    if (r->headers_in.user_agent) {
        s = r->headers_in.user_agent->value.data;
        n = ngx_min(r->headers_in.user_agent->value.len,
                    NGX_HTTP_ONEID_INDEX_UA_MAX);

        for (i = 0; i < n; i++) {
            ua[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        }
    }

    method = &id->field[NGX_HTTP_ONEID_AUTH_METHOD];

    o = json_pack("{s:s#, s:s#, s:s#}",
                  "client", r->connection->addr_text.data,
                  (int) r->connection->addr_text.len,
                  "user_agent", ua, (int) n,
                  "auth_method", method->data ? (char *) method->data : "",
                  (int) method->len);

    if (ngx_http_oneid_index_dump(r->pool, o, &plain) != NGX_OK) {
        return NGX_ERROR;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    return ngx_http_oneid_key_seal_text(r->pool, omcf->keys,
                                        NGX_HTTP_ONEID_KEY_DETAILS, &plain,
                                        details);
}


/* o as compact JSON in the pool; o is released */

static ngx_int_t
ngx_http_oneid_index_dump(ngx_pool_t *pool, json_t *o, ngx_str_t *out)
{
    char  *dump;

    if (o == NULL) {
        return NGX_ERROR;
    }

    dump = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    if (dump == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_strlen(dump);
    out->data = ngx_pnalloc(pool, out->len);

    if (out->data != NULL) {
        ngx_memcpy(out->data, dump, out->len);
    }

    free(dump);

    return out->data ? NGX_OK : NGX_ERROR;
}


/*
 * The details of an entry, opened: a JSON object for the caller to
 * release, or NULL (sealed under a key rotated out, or damaged)
 */

json_t *
ngx_http_oneid_index_open_details(ngx_http_request_t *r, const char *details)
{
    json_t                      *o;
    ngx_str_t                    sealed, plain;
    json_error_t                 err;
    ngx_http_oneid_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oneid_module);

    sealed.data = (u_char *) details;
    sealed.len = ngx_strlen(details);

    if (ngx_http_oneid_key_open_text(r->pool, omcf->keys,
                                     NGX_HTTP_ONEID_KEY_DETAILS, &sealed,
                                     &plain)
        != NGX_OK)
    {
        return NULL;
    }

    o = json_loadb((char *) plain.data, plain.len, 0, &err);

    if (o != NULL && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }

    return o;
}
