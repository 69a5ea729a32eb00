#!/usr/bin/env node
// make test-browser: what a person sees, in a real browser.  Debian's
// chromium (/usr/bin/chromium, never a downloaded one) driven headless by
// playwright-core against an nginx with the module, the suite's Redis,
// mock OneID and echo backend (t/services.sh, started by the Makefile).
//
// The site is http://127.0.0.1:$TEST_NGINX_PORT; "another site" is
// http://localhost:$TEST_NGINX_PORT, a second server {} of the same nginx:
// another origin and, for the browser, another site (Sec-Fetch-Site:
// cross-site), without a port of its own.
//
// The idle warning (scenario 6): the MIS's pages (a third server {},
// "mis-backend", gzip on like many upstreams) get the module's script
// through sub_filter on a protected location with a 20 s idle timeout and
// a 12 s warning.
//
// Prints each check, then "N passed, N failed"; exits 1 on a failure.
// Screenshots and nginx's logs: build/browser/.

'use strict';

const { chromium } = require('playwright-core');
const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

const top = path.resolve(__dirname, '..', '..');
const out = path.join(top, 'build', 'browser');

function env(name) {
    const v = process.env['TEST_NGINX_' + name];
    if (!v) {
        console.error(`TEST_NGINX_${name} is not set (run make test-browser)`);
        process.exit(2);
    }
    return v;
}

const port = env('PORT');
const oneidPort = env('ONEID_PORT');
const nginxBin = process.env.TEST_NGINX_BINARY || '/usr/sbin/nginx';
const module_ = process.env.TEST_NGINX_LOAD_MODULES
    || path.join(top, 'build', 'ngx_http_oneid_module.so');
const chromiumBin = process.env.CHROMIUM || '/usr/bin/chromium';

const site = `http://127.0.0.1:${port}`;
const other = `http://localhost:${port}`;
const oneid = `https://127.0.0.1:${oneidPort}/sso/oauth/Authorization.do`;
const pin = '41203870000017';          // the mock's "doctor"
const redisPort = env('REDIS_PORT');
const backendPort = env('BACKEND_PORT');

// --- nginx ---------------------------------------------------------------

// Locations added to the suite's usual server (Test::OneID::Conf).
const locations = `
    location = /links.html {
        oneid off;
        default_type text/html;
        return 200 '<!DOCTYPE html><title>links</title><a id=out href="/oneid/logout">out</a>';
    }

    # the idle warning, injected into every page of the MIS
    location = /oneid/session-mis {
        oneid_session_info warn=12s;
        oneid_session_timeout 20s;
    }

    # the browser asks for it along with the pages: with "oneid on" (and
    # location /'s idle timeout) it would count as activity
    location = /favicon.ico {
        oneid off;
        return 404;
    }

    location /mis/ {
        oneid on;
        oneid_session_timeout 20s;
        add_header Content-Security-Policy "default-src 'self'; script-src 'self'; style-src 'self'" always;
        proxy_pass http://127.0.0.1:${port};
        proxy_set_header Host mis-backend;
        # upstream gzip would hide </head> from sub_filter
        proxy_set_header Accept-Encoding "";
        sub_filter '</head>' '<script src="/oneid/session-mis?script" defer></script></head>';
        sub_filter_once on;
    }

    # oneid_preserve_post (scenario 7): the MIS's form pages, the form
    # posted to the echo backend (location /); /short/ forgets a started
    # login after 3 s
    location /forms/ {
        oneid on;
        proxy_pass http://127.0.0.1:${port};
        proxy_set_header Host mis-backend;
    }

    location /short/ {
        oneid on;
        oneid_state_timeout 3s;
        proxy_pass http://127.0.0.1:${backendPort};
    }

    location = /ssi.html {
        oneid off;
        ssi on;
        default_type text/html;
        return 200 '<!DOCTYPE html><title>ssi</title><pre>before <!--# include virtual="/inc/part" --> after</pre>';
    }
`;

function nginxConf() {
    // the server's body exactly as the Test::Nginx files get it
    const body = execFileSync('perl', [
        '-I', path.join(top, 't', 'lib'),
        '-MTest::OneID::Conf=http_config,server_config',
        '-e', 'print http_config(), "\\0", ' +
              'server_config(locations => $ENV{ONEID_BROWSER_LOCATIONS})',
    ], { env: { ...process.env, ONEID_BROWSER_LOCATIONS: locations },
         encoding: 'utf8' });
    const [httpConf, serverConf] = body.split('\0');

    return `load_module ${module_};
worker_processes 1;
daemon off;
master_process on;
user root;
error_log logs/error.log info;
pid logs/nginx.pid;

events { worker_connections 256; }

http {
    access_log logs/access.log;
    default_type text/plain;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;

${httpConf}
    server {
        listen 127.0.0.1:${port} default_server;
        server_name 127.0.0.1;
${serverConf}
    }

    # the legacy MIS: plain pages, gzipped when the client allows it
    server {
        listen 127.0.0.1:${port};
        server_name mis-backend;
        gzip on;
        gzip_min_length 0;
        default_type text/html;

        location = /forms/record {
            return 200 '<!DOCTYPE html><html><head><meta charset="utf-8"><title>record</title></head><body><form method="post" action="/save/record?id=7"><textarea name="note"></textarea><input name="patient"><input type="hidden" name="dx" value="J06.9"><input type="hidden" name="dx" value="I10"><input type="hidden" name="action" value="keep"><button id="save" name="submit" value="Saqlash">Saqlash</button></form></body></html>';
        }

        location = /forms/short {
            return 200 '<!DOCTYPE html><html><head><meta charset="utf-8"><title>record</title></head><body><form method="post" action="/short/save"><textarea name="note"></textarea><input name="patient"><button id="save" name="submit" value="Saqlash">Saqlash</button></form></body></html>';
        }

        location ~ ^/mis/(uz|ru|en)/ {
            return 200 '<!DOCTYPE html><html lang="$1"><head><title>MIS $1</title></head><body><h1>MIS</h1><p>patients</p></body></html>';
        }

        # no lang attribute, and the script already in the page: with the
        # one sub_filter adds it is there twice
        location /mis/ {
            return 200 '<!DOCTYPE html><html><head><title>MIS</title></head><body><h1>MIS</h1><script src="/oneid/session-mis?script" defer></script></body></html>';
        }
    }

    # another site with a logout link to ours
    server {
        listen 127.0.0.1:${port};
        server_name localhost;

        location = /other.html {
            default_type text/html;
            return 200 '<!DOCTYPE html><title>other</title><a id=out href="${site}/oneid/logout">sign out of the MIS</a>';
        }
    }
}
`;
}

function get(url) {
    return new Promise((resolve, reject) => {
        http.get(url, (res) => { res.resume(); resolve(res.statusCode); })
            .on('error', reject);
    });
}

async function startNginx() {
    const prefix = path.join(out, 'nginx');
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(prefix, 'nginx.conf'), nginxConf());
    const child = spawn(nginxBin, ['-p', prefix, '-c', 'nginx.conf',
                                   '-e', 'logs/error.log'],
                        { stdio: ['ignore', 'inherit', 'inherit'] });
    let exited = null;
    child.on('exit', (code, sig) => { exited = sig || code; });
    for (let i = 0; i < 100; i++) {
        if (exited !== null) {
            throw new Error(`nginx exited (${exited}); see ${prefix}/logs/error.log`);
        }
        try {
            await get(`${site}/links.html`);
            return child;
        } catch (e) {
            await new Promise((r) => setTimeout(r, 100));
        }
    }
    child.kill('SIGKILL');
    throw new Error('nginx did not come up');
}

function stopNginx(child) {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
        return Promise.resolve();
    }
    return new Promise((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.on('exit', () => { clearTimeout(t); resolve(); });
        child.kill('SIGTERM');
    });
}

// --- checks --------------------------------------------------------------

let passed = 0;
let failed = 0;

function check(name, ok, detail) {
    if (ok) {
        passed++;
        console.log(`ok   ${name}`);
    } else {
        failed++;
        console.log(`FAIL ${name}${detail !== undefined ? '\n     ' + detail : ''}`);
    }
}

async function scenario(name, fn) {
    console.log(`# ${name}`);
    try {
        await fn();
    } catch (e) {
        check(`${name}: ran to the end`, false, e.stack || String(e));
    }
}

// --- the browser ---------------------------------------------------------

// The mock's certificate is trusted by its key only (and only it is
// HTTPS here): the test CA is not in the browser's store, and no other
// certificate error is ignored.
function mockSpki() {
    const pem = fs.readFileSync(path.join(top, 'build', 'test-ca', 'server.crt'));
    const der = new crypto.X509Certificate(pem).publicKey
        .export({ type: 'spki', format: 'der' });
    return crypto.createHash('sha256').update(der).digest('base64');
}

async function launch() {
    // playwright gives every launch a fresh temporary --user-data-dir
    return chromium.launch({
        executablePath: chromiumBin,
        headless: true,
        chromiumSandbox: false,
        args: [
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
            '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync',
            `--ignore-certificate-errors-spki-list=${mockSpki()}`,
        ],
    });
}

// Our pages answer in milliseconds: a missing element fails in 10 s, not 30.
async function newContext(browser, options) {
    const ctx = await browser.newContext(options);
    ctx.setDefaultTimeout(10000);
    return ctx;
}

// Every URL a navigation went through, first to last.
function chain(response) {
    const urls = [];
    for (let r = response && response.request(); r; r = r.redirectedFrom()) {
        urls.unshift(r.url());
    }
    return urls;
}

// Open a page and tell what the person sees: signed in (the echo backend's
// answer with the identity), or on OneID's login page.
async function visit(page, url) {
    const res = await page.goto(url);
    const text = await page.locator('body').innerText();
    return {
        status: res && res.status(),
        url: page.url(),
        chain: chain(res),
        text,
        onOneID: page.url().startsWith(oneid),
        signedIn: page.url() === url && text.includes(`X-OneID-Pin: ${pin}`),
    };
}

// From OneID's login page: pick a test user by name, back on the site.
async function pickUser(page, user) {
    // by its text: the test scenarios sit in closed <details>, where a
    // role locator does not look
    const link = page.locator(`li > a:has(b:text-is("${user}"))`);
    if (!(await link.isVisible())) {
        await page.locator('details').filter({ has: link }).locator('summary')
            .click();
    }
    await Promise.all([
        page.waitForURL((u) => u.origin === site, { waitUntil: 'load' }),
        link.click(),
    ]);
}

async function signIn(page, user, url) {
    const v = await visit(page, url);
    if (!v.onOneID) {
        throw new Error(`${url} did not lead to OneID: ${v.url}`);
    }
    await pickUser(page, user);
}

// Click a link or button and wait for the navigation it starts, redirects
// included, to load; returns the first request it sent to urlPart.
async function click(page, locator, urlPart) {
    const seen = [];
    const onRequest = (r) => {
        if (r.isNavigationRequest() && r.url().includes(urlPart)) seen.push(r);
    };
    page.on('request', onRequest);
    try {
        await Promise.all([page.waitForNavigation({ waitUntil: 'load' }),
                           locator.click()]);
    } finally {
        page.off('request', onRequest);
    }
    if (!seen.length) throw new Error(`no request to ${urlPart}`);
    const req = seen[0];
    return { req, res: await req.response(), headers: await req.allHeaders() };
}

function fetchHeaders(h) {
    return ['sec-fetch-site', 'sec-fetch-mode', 'sec-fetch-dest',
            'origin', 'referer']
        .map((k) => `${k}: ${h[k] === undefined ? '-' : h[k]}`).join(', ');
}

async function shot(page, name) {
    const file = path.join(out, name + '.png');
    await page.screenshot({ path: file, fullPage: true });
    console.log(`     screenshot ${path.relative(top, file)}`);
}

const texts = {
    confirm: {
        'uz-UZ': ['Tizimdan chiqish', 'Tizimdan chiqishni tasdiqlang.', 'Chiqish'],
        'ru-RU': ['Выход из системы', 'Подтвердите выход из системы.', 'Выйти'],
        'en-US': ['Sign out', 'Please confirm that you want to sign out.', 'Sign out'],
    },
    unconfirmed: {
        'uz-UZ': ['Siz tizimdan chiqdingiz', 'ammo OneID\u2019dan chiqish tasdiqlanmadi'],
        'ru-RU': ['Вы вышли из системы', 'выход из OneID не подтверждён'],
        'en-US': ['You are signed out', 'signing out of OneID could not be confirmed'],
    },
};

// the suite's Redis, through redis-cli (the test's own process only)
function redis(...args) {
    return execFileSync('redis-cli', ['-p', redisPort, ...args],
                        { encoding: 'utf8' }).trim();
}

async function sessionKey(ctx) {
    const c = (await ctx.cookies(site)).find((k) => k.name === 'oneid_session');
    if (!c) throw new Error('no session cookie');
    return 'oneid:session:'
        + crypto.createHash('sha256').update(c.value).digest('hex');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Wait until fn() is true (checked every 100 ms); seconds waited, or null.
async function until(fn, seconds) {
    const start = Date.now();
    while (Date.now() - start < seconds * 1000) {
        if (await fn()) return (Date.now() - start) / 1000;
        await sleep(100);
    }
    return null;
}

const banner = (page) => page.locator('[data-oneid-session-warning]');

async function bannerShown(page) {
    const b = banner(page);
    return (await b.count()) === 1 && (await b.isVisible());
}

async function main(browser) {
    await scenario('1. a doctor signs in and comes back to the page asked for',
                   async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        const want = `${site}/patients/42?tab=history&q=%D0%B0`;
        let v = await visit(page, want);
        check('protected page sends the browser to OneID', v.onOneID, v.url);
        check('OneID shows its login page', v.text.includes('choose a test user'),
              v.text.slice(0, 200));
        await pickUser(page, 'doctor');
        check('back on the page first asked for', page.url() === want, page.url());
        const text = await page.locator('body').innerText();
        check('the backend sees the identity',
              text.includes(`X-OneID-Pin: ${pin}`)
              && text.includes('GET /patients/42?tab=history&q=%D0%B0 '),
              text.slice(0, 400));
        v = await visit(page, `${site}/other/page`);
        check('the next page is signed in without OneID',
              v.signedIn && v.chain.length === 1, v.chain.join(' -> '));
        await ctx.close();
    });

    await scenario("2. the site's own logout link signs out at once",
                   async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        await signIn(page, 'doctor', `${site}/start`);
        await page.goto(`${site}/links.html`);
        const c = await click(page, page.locator('#out'), '/oneid/logout');
        console.log(`     browser sent ${fetchHeaders(c.headers)}`);
        check('logout answers with a redirect, no confirmation page',
              c.res && c.res.status() === 302,
              c.res && `${c.res.status()} ${await page.title()}`);
        check('the browser follows it to OneID (the site\'s / is protected)',
              page.url().startsWith(oneid), page.url());
        const v = await visit(page, `${site}/after-logout`);
        check('the next protected page goes to OneID again, which asks for a user',
              v.onOneID && v.text.includes('choose a test user'), v.url);
        await ctx.close();
    });

    await scenario('3. a logout link on another site asks first', async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        await signIn(page, 'doctor', `${site}/start`);
        await page.goto(`${other}/other.html`);
        const c = await click(page, page.locator('#out'), '/oneid/logout');
        console.log(`     browser sent ${fetchHeaders(c.headers)}`);
        const [title, line, button] = texts.confirm['en-US'];
        check('the confirmation page, 200',
              c.res && c.res.status() === 200
              && page.url() === `${site}/oneid/logout`
              && (await page.locator('h1').innerText()) === title
              && (await page.locator('body').innerText()).includes(line),
              `${c.res && c.res.status()} ${page.url()}`);
        const btn = page.getByRole('button', { name: button });
        check('its button is visible', await btn.isVisible());

        const p2 = await ctx.newPage();
        let v = await visit(p2, `${site}/still-here`);
        check('the session still works', v.signedIn, v.url);
        await p2.close();

        const b = await click(page, btn, '/oneid/logout');
        console.log(`     button sent ${b.req.method()} ${fetchHeaders(b.headers)}`);
        check('the button POSTs and signs out (redirect)',
              b.req.method() === 'POST' && b.res && b.res.status() === 302,
              `${b.req.method()} ${b.res && b.res.status()}`);
        v = await visit(page, `${site}/after-logout`);
        check('signed out: the next protected page goes to OneID',
              v.onOneID && v.text.includes('choose a test user'), v.url);
        await ctx.close();
    });

    await scenario('4. ssi on an open page includes a protected part only when signed in',
                   async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        let v = await visit(page, `${site}/ssi.html`);
        check('signed out: the open page shows, without the protected part',
              v.status === 200 && v.text.includes('before')
              && v.text.includes('after') && !v.text.includes('/inc/part')
              && !v.text.includes('X-OneID-'), v.text.slice(0, 300));
        await signIn(page, 'doctor', `${site}/start`);
        v = await visit(page, `${site}/ssi.html`);
        check('signed in: the protected part is included with the identity',
              v.text.includes('GET /inc/part ')
              && v.text.includes(`X-OneID-Pin: ${pin}`), v.text.slice(0, 300));
        await ctx.close();
    });

    await scenario('5. the pages read well in uz, ru and en (screenshots)',
                   async () => {
        for (const locale of ['uz-UZ', 'ru-RU', 'en-US']) {
            const lang = locale.slice(0, 2);
            const ctx = await newContext(browser, {
                locale, viewport: { width: 800, height: 600 } });
            const page = await ctx.newPage();

            // the confirmation page
            await signIn(page, 'doctor', `${site}/start`);
            await page.goto(`${other}/other.html`);
            await click(page, page.locator('#out'), '/oneid/logout');
            const [title, line, button] = texts.confirm[locale];
            const body = await page.locator('body').innerText();
            check(`${lang}: confirmation page in its language`,
                  (await page.locator('html').getAttribute('lang')) === lang
                  && (await page.locator('h1').innerText()) === title
                  && body.includes(line), body.slice(0, 300));
            check(`${lang}: its button is visible`, await page.getByRole(
                'button', { name: button, exact: true }).isVisible());
            await shot(page, `confirm-${lang}`);
            await click(page, page.getByRole('button', { name: button }),
                        '/oneid/logout');

            // OneID's one_log_out fails: signed out here, not confirmed there
            await signIn(page, 'logout-500', `${site}/start`);
            await page.goto(`${site}/links.html`);
            const c = await click(page, page.locator('#out'), '/oneid/logout');
            const [t2, l2] = texts.unconfirmed[locale];
            const b2 = await page.locator('body').innerText();
            check(`${lang}: "signed out, OneID not confirmed" page`,
                  c.res && c.res.status() === 200
                  && (await page.locator('h1').innerText()) === t2
                  && b2.includes(l2), b2.slice(0, 300));
            await shot(page, `unconfirmed-${lang}`);
            const v = await visit(page, `${site}/after-logout`);
            check(`${lang}: and the site's session is over (the next page goes through OneID)`,
                  v.chain.some((u) => u.startsWith(oneid)), v.chain.join(' -> '));
            await ctx.close();
        }
    });
}

async function preservePost(browser) {
    const note = '</script><script>window.pwned=1</script> <!-- x --> '
                 + 'Bemor ahvoli o\u2018rtacha, qo\u2018shimcha: '
                 + 'Состояние средней тяжести';
    const patient = 'Абдуллаев Ғайрат Ўктамович';
    const want = [['note', note], ['patient', patient], ['dx', 'J06.9'],
                  ['dx', 'I10'], ['action', 'keep'], ['submit', 'Saqlash']];

    // the doctor's form, typed after the session ended (its key deleted)
    async function expiredForm(ctx, page, form, user) {
        await signIn(page, user, `${site}/forms/${form}`);
        await page.locator('textarea[name=note]').fill(note);
        await page.locator('input[name=patient]').fill(patient);
        redis('DEL', await sessionKey(ctx));
    }

    // every POST of the form, and what answered it
    function watch(page, part) {
        const posts = [];
        const problems = [];
        page.on('request', (r) => {
            if (r.method() === 'POST' && r.url().includes(part)) posts.push(r);
        });
        page.on('console', (m) => {
            if (m.type() === 'error') problems.push(m.text());
        });
        page.on('pageerror', (e) => problems.push(String(e)));
        return { posts, problems };
    }

    // the ones the echo backend answered (text/plain; the module's page
    // that keeps the form is text/html)
    async function echoed(posts) {
        const out = [];
        for (const r of posts) {
            const res = await r.response();
            if (res && (res.headers()['content-type'] || '')
                .startsWith('text/plain')) {
                out.push(res);
            }
        }
        return out;
    }

    await scenario('7a. a form typed while the session ended is posted after the login, once',
                   async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        await expiredForm(ctx, page, 'record', 'doctor');
        const w = watch(page, '/save/record');
        // OneID's session is alive (mock_sso): it signs the doctor straight
        // back in, as a real OneID would
        await Promise.all([
            page.waitForURL(`${site}/save/record?id=7`, { waitUntil: 'load' }),
            page.locator('#save').click(),
        ]);
        await sleep(1000);
        const text = await page.locator('body').innerText();
        check('back on the URL the form was posted to',
              page.url() === `${site}/save/record?id=7`, page.url());
        check('the backend got the POST, signed in',
              text.startsWith('POST /save/record?id=7 ')
              && text.includes(`X-OneID-Pin: ${pin}`), text.slice(0, 300));
        const body = text.slice(text.indexOf('\n\n') + 2);
        const got = [...new URLSearchParams(body)];
        check('with exactly the same fields, in order (</script>, Uzbek, Cyrillic, '
              + 'repeated names, fields named "submit" and "action")',
              JSON.stringify(got) === JSON.stringify(want), JSON.stringify(got));
        const bodies = await echoed(w.posts);
        check('the form went twice from the browser: to the login, then once '
              + 'to the backend', w.posts.length === 2 && bodies.length === 1,
              `${w.posts.length} POSTs, ${bodies.length} reached the backend`);
        check('nothing of the field ran as script', await page.evaluate(
            () => window.pwned === undefined));
        check('no script error, no CSP violation', w.problems.length === 0,
              w.problems.join('; '));
        check('the entry is gone from sessionStorage', await page.evaluate(
            () => Object.keys(sessionStorage)
                .filter((k) => k.startsWith('oneid-post:')).length === 0));
        await ctx.close();
    });

    await scenario('7b. another doctor signs in instead: the form is not posted',
                   async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        await expiredForm(ctx, page, 'record', 'doctor');
        await ctx.clearCookies({ name: 'mock_sso' });
        const w = watch(page, '/save/record');
        await Promise.all([
            page.waitForURL((u) => u.href.startsWith(oneid), { waitUntil: 'load' }),
            page.locator('#save').click(),
        ]);
        check('the form leads to OneID, which asks who signs in',
              (await page.locator('body').innerText()).includes('choose a test user'));
        await pickUser(page, 'citizen-basic');
        await sleep(1000);
        const notice = page.locator('#oneid-post-owner');
        check('a notice says another user signed in',
              await notice.isVisible()
              && (await notice.innerText()).includes('another user signed in'),
              page.url());
        const link = page.locator('#oneid-post-continue a');
        check('with a link to the page, by GET',
              await link.isVisible()
              && (await link.getAttribute('href')) === '/save/record?id=7');
        await shot(page, 'preserve-post-other-user');
        check('the form never reached the backend',
              w.posts.length === 1 && (await echoed(w.posts)).length === 0,
              `${w.posts.length} POSTs`);
        check('no script error, no CSP violation', w.problems.length === 0,
              w.problems.join('; '));
        await ctx.close();
    });

    await scenario('7c. past the state timeout the form is not posted', async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        await expiredForm(ctx, page, 'short', 'doctor');
        await ctx.clearCookies({ name: 'mock_sso' });
        const w = watch(page, '/short/save');
        await Promise.all([
            page.waitForURL((u) => u.href.startsWith(oneid), { waitUntil: 'load' }),
            page.locator('#save').click(),
        ]);
        await sleep(4000);
        await pickUser(page, 'doctor');
        await sleep(1000);
        check('the form never reached the backend',
              w.posts.length === 1 && (await echoed(w.posts)).length === 0,
              `${w.posts.length} POSTs; at ${page.url()}`);
        await ctx.close();
    });
    await scenario('7d. the entry expired in the tab meanwhile: the form is not posted',
                   async () => {
        const ctx = await newContext(browser, { locale: 'ru-RU' });
        const page = await ctx.newPage();
        await expiredForm(ctx, page, 'record', 'doctor');
        await ctx.clearCookies({ name: 'mock_sso' });
        const w = watch(page, '/save/record');
        await Promise.all([
            page.waitForURL((u) => u.href.startsWith(oneid), { waitUntil: 'load' }),
            page.locator('#save').click(),
        ]);
        const atOneID = page.url();
        // the same tab on an open page of the site: its sessionStorage;
        // the entry's time is made older than the server's clock
        await page.goto(`${site}/links.html`);
        const keys = await page.evaluate(() => {
            const ks = Object.keys(sessionStorage)
                .filter((k) => k.startsWith('oneid-post:'));
            for (const k of ks) {
                const e = JSON.parse(sessionStorage.getItem(k));
                e.expires = Date.now() - 60000;
                sessionStorage.setItem(k, JSON.stringify(e));
            }
            return ks;
        });
        check('the tab holds one entry, under the key of the login',
              keys.length === 1 && atOneID.includes(
                  'state=' + keys[0].slice('oneid-post:'.length)), keys.join());
        await page.goto(atOneID);
        await pickUser(page, 'doctor');
        await sleep(1000);
        const notice = page.locator('#oneid-post-expired');
        check('the same doctor signs in: a notice says the form expired',
              await notice.isVisible()
              && (await notice.innerText()).includes('срок её хранения истёк'),
              page.url());
        check('the form never reached the backend',
              w.posts.length === 1 && (await echoed(w.posts)).length === 0,
              `${w.posts.length} POSTs`);
        check('the entry is gone', await page.evaluate(
            () => Object.keys(sessionStorage)
                .filter((k) => k.startsWith('oneid-post:')).length === 0));
        await ctx.close();
    });
}

async function idleWarning(browser) {
    await scenario('6. the idle warning: banner, "continue working", logout',
                   async () => {
        const ctx = await newContext(browser, { locale: 'en-US' });
        const page = await ctx.newPage();
        const other = await ctx.newPage();
        const infoRequests = [];
        const cspErrors = [];
        const trace = [];
        const start = Date.now();
        for (const [name, p] of [['A', page], ['B', other]]) {
            p.on('response', (r) => {
                if (r.url().includes('/oneid/session-mis')) {
                    trace.push(`${((Date.now() - start) / 1000).toFixed(1)} ${name}`
                               + ` ${r.request().method()} ${r.status()}`);
                }
            });
            p.on('console', (m) => trace.push(`${name} console: ${m.text()}`));
            p.on('pageerror', (e) => trace.push(`${name} error: ${e}`));
        }
        for (const p of [page, other]) {
            p.on('request', (r) => {
                if (r.url().includes('/oneid/session-mis')
                    && !r.url().includes('?script')) {
                    infoRequests.push(r.method());
                }
            });
            p.on('console', (m) => {
                if (/Content Security Policy|Refused to/.test(m.text())) {
                    cspErrors.push(m.text());
                }
            });
        }

        await signIn(page, 'doctor', `${site}/mis/ru/patients`);
        check('signed in, on the MIS page',
              page.url() === `${site}/mis/ru/patients`, page.url());
        // the page with the script twice; opening it is activity: t0
        await other.goto(`${site}/mis/x/queue`);
        const t0 = Date.now();
        const key = await sessionKey(ctx);
        const ttl0 = +redis('PTTL', key);
        check('the MIS page carries the script (sub_filter, despite upstream gzip)',
              (await page.locator('script[src="/oneid/session-mis?script"]')
                  .count()) === 1);
        check('the idle timeout is 20 s', ttl0 > 18000 && ttl0 <= 20000,
              `PTTL ${ttl0}`);

        await sleep(6000 - (Date.now() - t0));
        check('no banner 6 s after the last activity (12 s before the end: at 8 s)',
              !(await bannerShown(page)) && !(await bannerShown(other)));
        check('the script has asked already (GET)',
              infoRequests.length >= 2 && infoRequests.every((m) => m === 'GET'),
              infoRequests.join(' '));
        let ttl = +redis('PTTL', key);
        check('its polling does not extend the session (TTL keeps falling)',
              ttl > 0 && ttl <= 14500, `PTTL ${ttl} at 6 s`);

        const waited = await until(() => bannerShown(page), 8);
        const at = (Date.now() - t0) / 1000;
        check('the banner appears about 12 s before the end',
              waited !== null && at >= 6.5 && at <= 10, `at ${at.toFixed(1)} s`);
        const b = banner(page);
        const text = waited !== null ? await b.innerText() : '';
        check('in the page\'s language (html lang="ru"), with the minutes left',
              /Из-за отсутствия активности сеанс завершится через 1 мин\./
                  .test(text)
              && (await b.getAttribute('role')) === 'alert', text);
        await until(() => bannerShown(other), 3);
        const otherText = await banner(other).innerText().catch(() => '');
        check('a page without lang: the browser\'s language (en), one banner '
              + 'although the script is there twice',
              otherText.includes('Your session will end in 1 min')
              && (await banner(other).count()) === 1, otherText);
        await shot(page, 'idle-warning-ru');
        const ttl6 = ttl;
        ttl = +redis('PTTL', key);
        check('still no extension while the banner is shown',
              ttl > 0 && ttl < ttl6, `PTTL ${ttl}, ${ttl6} at 6 s`);

        const button = page.getByRole('button', { name: 'Продолжить работу' });
        check('"continue working" is a real button', await button.isVisible());
        const posted = page.waitForResponse((r) =>
            r.url().endsWith('/oneid/session-mis')
            && r.request().method() === 'POST');
        posted.catch(() => {});
        await button.click();
        const res = await posted;
        const t1 = Date.now();
        ttl = +redis('PTTL', key);
        check('one POST restores the idle timeout',
              res.status() === 200 && ttl > 18500,
              `${res.status()}, PTTL ${ttl}`);
        check('the banner is gone',
              (await until(async () => !(await bannerShown(page)), 2)) !== null);
        check('and from the other tab too (it asks every 10 s at most)',
              (await until(async () => !(await bannerShown(other)), 11))
              !== null);
        check('exactly one POST so far',
              infoRequests.filter((m) => m === 'POST').length === 1,
              infoRequests.join(' '));
        check('no CSP violation', cspErrors.length === 0, cspErrors.join('; '));

        // no more activity: the session ends 20 s after the POST, and the
        // page goes to sign in by itself.  OneID's own session ends too
        // (the mock's SSO cookie): with it alive OneID would sign the
        // browser straight back in (oneid_idp_session, issue 10 part 5).
        await ctx.clearCookies({ name: 'mock_sso' });
        const gone = await until(() => page.url().startsWith(oneid), 32);
        const end = (Date.now() - t1) / 1000;
        check('after the idle timeout the page goes to the OneID login page',
              gone !== null && end >= 19.5 && page.url().startsWith(oneid),
              `${page.url()} after ${end.toFixed(1)} s`);
        await page.waitForLoadState('load').catch(() => {});
        const login = await page.locator('body').innerText().catch(() => '');
        check('... which asks for a user',
              login.includes('choose a test user'), login.slice(0, 200));
        check('the session is gone in Redis', redis('EXISTS', key) === '0');
        fs.writeFileSync(path.join(out, 'idle-warning.log'), trace.join('\n') + '\n');
        await ctx.close();
    });
}

// Tabs opened at once in a fresh browser (a restored session, a folder of
// bookmarks): every one must end on its own page, signed in, with one
// session between them, and no error page.  The mock signs the browser in
// without its page, by its mock_user cookie.
async function parallelTabs(browser) {
    const sessions = () => redis('KEYS', 'oneid:session:*')
        .split('\n').filter(Boolean).length;
    for (const n of [4, 10]) {
        await scenario(`8. ${n} protected tabs opened at once in a fresh `
                       + 'browser', async () => {
            const ctx = await newContext(browser, { locale: 'en-US' });
            await ctx.addCookies([{ name: 'mock_user', value: 'doctor',
                                    url: `https://127.0.0.1:${oneidPort}/` }]);
            const before = sessions();
            const pages = [];
            for (let i = 0; i < n; i++) pages.push(await ctx.newPage());
            const urls = pages.map((_, i) => `${site}/tabs/${n}/${i + 1}?q=${i}`);
            const seen = await Promise.all(pages.map((p, i) => visit(p, urls[i])));
            const own = seen.filter((v, i) => v.signedIn && v.url === urls[i]);
            check(`${n} tabs: each ends on its own page, signed in`,
                  own.length === n,
                  seen.map((v) => `${v.status} ${v.url}`).join(', '));
            check(`${n} tabs: no error page`,
                  seen.every((v) => v.status === 200),
                  seen.map((v) => v.status).join(' '));
            const made = sessions() - before;
            check(`${n} tabs: one session in Redis`, made === 1, `${made}`);
            const cookies = (await ctx.cookies(site))
                .filter((c) => /_state_/.test(c.name));
            check(`${n} tabs: no login cookie left`, cookies.length === 0,
                  cookies.map((c) => c.name).join(' '));
            await ctx.close();
        });
    }
}

(async () => {
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out, { recursive: true });
    let nginx = null;
    let browser = null;
    const stop = async () => {
        if (browser) await browser.close().catch(() => {});
        await stopNginx(nginx);
    };
    for (const sig of ['SIGINT', 'SIGTERM']) {
        process.on(sig, () => { stop().then(() => process.exit(130)); });
    }
    try {
        nginx = await startNginx();
        browser = await launch();
        console.log(`# ${chromiumBin} ${browser.version()}, playwright-core `
                    + require('playwright-core/package.json').version);
        await main(browser);
        await preservePost(browser);
        await idleWarning(browser);
        await parallelTabs(browser);
    } catch (e) {
        check('set-up', false, e.stack || String(e));
    } finally {
        await stop();
    }
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed || !passed ? 1 : 0);
})();
