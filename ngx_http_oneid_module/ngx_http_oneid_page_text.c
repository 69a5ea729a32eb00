
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * The texts of the pages in Uzbek, Russian and English: one entry per
 * page (ngx_http_oneid_page.h), with its status, its JSON code and what
 * it says; ngx_http_oneid_page.c chooses the language and builds the
 * page.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_page_text.h"


ngx_http_oneid_page_t  ngx_http_oneid_pages[NGX_HTTP_ONEID_PAGE_LAST] = {

    { NGX_HTTP_BAD_REQUEST, "login_callback_invalid", 1,
      { "Kirish yakunlanmadi",
        "Вход не завершён",
        "Sign-in not completed" },
      { "Kirish havolasi yaroqsiz, eskirgan yoki allaqachon ishlatilgan. "
        "Iltimos, qaytadan kiring.",
        "Ссылка для входа недействительна, устарела или уже "
        "использована. Пожалуйста, войдите снова.",
        "The sign-in link is invalid, has expired or was already used. "
        "Please sign in again." },
      { NULL, NULL, NULL }, NULL },

    { NGX_HTTP_UNAUTHORIZED, "login_required", 0,
      { "Tizimga kirish talab qilinadi",
        "Требуется вход",
        "Sign-in required" },
      { "Davom etish uchun OneID orqali tizimga kiring.",
        "Чтобы продолжить, войдите через OneID.",
        "Please sign in with OneID to continue." },
      { NULL, NULL, NULL }, NULL },

    { NGX_HTTP_FORBIDDEN, "identity_refused", 1,
      { "Kirish rad etildi",
        "Вход отклонён",
        "Sign-in refused" },
      { "OneID shaxsingizni tasdiqlamadi, shu sababli kirish amalga "
        "oshmadi.",
        "OneID не подтвердил вашу личность, поэтому вход не выполнен.",
        "OneID did not confirm your identity, so you could not be "
        "signed in." },
      { NULL, NULL, NULL }, NULL },

    { NGX_HTTP_BAD_GATEWAY, "oneid_unavailable", 1,
      { "OneID javob bermayapti",
        "OneID не отвечает",
        "OneID is not responding" },
      { "OneID xizmati hozir javob bermayapti. Bir necha daqiqadan so\xe2"
        "\x80\x98ng qayta urinib ko\xe2\x80\x98ring.",
        "Служба OneID сейчас не отвечает. Попробуйте снова через "
        "несколько минут.",
        "The OneID service is not responding right now. Please try "
        "again in a few minutes." },
      { NULL, NULL, NULL }, NULL },

    { NGX_HTTP_SERVICE_UNAVAILABLE, "session_store_unavailable", 0,
      { "Xizmat vaqtincha ishlamayapti",
        "Сервис временно недоступен",
        "Service temporarily unavailable" },
      { "Kirish xizmati vaqtincha ishlamayapti. Bir daqiqadan so\xe2\x80"
        "\x98ng sahifani yangilang.",
        "Служба входа временно недоступна. Обновите страницу через "
        "минуту.",
        "The sign-in service is temporarily unavailable. Please reload "
        "the page in a minute." },
      { NULL, NULL, NULL }, NULL },

    { NGX_HTTP_INTERNAL_SERVER_ERROR, "internal_error", 0,
      { "Ichki xatolik",
        "Внутренняя ошибка",
        "Internal error" },
      { "Serverda ichki xatolik yuz berdi. Iltimos, keyinroq qayta "
        "urinib ko\xe2\x80\x98ring.",
        "На сервере произошла внутренняя ошибка. Пожалуйста, "
        "попробуйте позже.",
        "An internal error occurred on the server. Please try again "
        "later." },
      { NULL, NULL, NULL }, NULL },

    /* two session cookies of one name: one may be planted, use neither */
    { NGX_HTTP_BAD_REQUEST, "cookie_conflict", 0,
      { "Kirish cookie fayllari bir-biriga zid",
        "Конфликт cookie входа",
        "Conflicting sign-in cookies" },
      { "Brauzeringiz bu saytga bir-biriga zid kirish cookie fayllarini "
        "yubordi, shu sababli tizimga kirilmadi. Brauzer sozlamalarida bu "
        "saytning cookie fayllarini o\xe2\x80\x98" "chiring va "
        "sahifani qaytadan oching.",
        "Браузер отправил этому сайту противоречащие друг другу cookie "
        "входа, поэтому вход не выполнен. Удалите cookie этого сайта в "
        "настройках браузера и откройте страницу снова.",
        "Your browser sent conflicting sign-in cookies for this site, so "
        "you could not be signed in. Delete this site\xe2\x80\x99s cookies "
        "in the browser settings, then open the page again." },
      { NULL, NULL, NULL }, NULL },

    /* a logout not known to come from this site: one click to confirm */
    { NGX_HTTP_OK, "logout_confirmation_required", 0,
      { "Tizimdan chiqish",
        "Выход из системы",
        "Sign out" },
      { "Tizimdan chiqishni tasdiqlang.",
        "Подтвердите выход из системы.",
        "Please confirm that you want to sign out." },
      { "Chiqish",
        "Выйти",
        "Sign out" }, NULL },

    /* the session could not be deleted: it is still there, say so */
    { NGX_HTTP_SERVICE_UNAVAILABLE, "logout_failed", 0,
      { "Chiqish yakunlanmadi",
        "Выход не завершён",
        "Sign-out not completed" },
      { "Xizmat vaqtincha ishlamayapti va sessiyangiz hali faol. Qayta "
        "urinib ko\xe2\x80\x98ring; bo\xe2\x80\x98lmasa, brauzerning "
        "barcha oynalarini yoping.",
        "Сервис временно недоступен, и ваш сеанс ещё активен. "
        "Попробуйте ещё раз; если не получится, закройте все окна "
        "браузера.",
        "The service is temporarily unavailable and your session is "
        "still active. Please try again; if that fails, close all "
        "browser windows." },
      { "Qayta urinish",
        "Повторить",
        "Try again" }, NULL },

    /* signed out here, but OneID's own session may still be alive */
    { NGX_HTTP_OK, "logout_oneid_unconfirmed", 0,
      { "Siz tizimdan chiqdingiz",
        "Вы вышли из системы",
        "You are signed out" },
      { "Siz bu saytdan chiqdingiz, ammo OneID\xe2\x80\x99" "dan chiqish "
        "tasdiqlanmadi. Umumiy kompyuterda brauzerning barcha oynalarini "
        "yoping yoki id.egov.uz saytida chiqing.",
        "Вы вышли из этого сайта, но выход из OneID не подтверждён. На "
        "общем компьютере закройте все окна браузера или выйдите на "
        "id.egov.uz.",
        "You are signed out of this site, but signing out of OneID could "
        "not be confirmed. On a shared computer, close all browser "
        "windows or sign out at id.egov.uz." },
      { NULL, NULL, NULL }, NULL },

    /* oneid_session_max_per_user: a newer login ended this session */
    { NGX_HTTP_UNAUTHORIZED, "session_ended_signed_in_elsewhere", 1,
      { "Sessiya yakunlandi",
        "Сеанс завершён",
        "Session ended" },
      { "Hisobingiz bilan boshqa kompyuterda tizimga kirildi, shu sababli "
        "bu yerdagi sessiya yakunlandi. Agar bu siz bo\xe2\x80\x98lmasangiz, "
        "qaytadan kiring va administratorga xabar bering.",
        "С вашей учётной записью выполнен вход на другом компьютере, "
        "поэтому сеанс здесь завершён. Если это были не вы, войдите снова "
        "и сообщите администратору.",
        "Your account was used to sign in on another computer, so the "
        "session here was ended. If that was not you, sign in again and "
        "tell your administrator." },
      { NULL, NULL, NULL }, NULL },

    /* "oneid_logout all" on another computer */
    { NGX_HTTP_UNAUTHORIZED, "session_ended_everywhere", 0,
      { "Sessiya yakunlandi",
        "Сеанс завершён",
        "Session ended" },
      { "Siz barcha kompyuterlarda tizimdan chiqdingiz. Davom etish uchun "
        "qaytadan kiring.",
        "Вы вышли из системы на всех компьютерах. Чтобы продолжить, "
        "войдите снова.",
        "You signed out on every computer. Sign in again to continue." },
      { NULL, NULL, NULL }, NULL },

    /* oneid_admin */
    { NGX_HTTP_UNAUTHORIZED, "session_revoked", 0,
      { "Sessiya yakunlandi",
        "Сеанс завершён",
        "Session ended" },
      { "Sessiyangiz administrator tomonidan yakunlandi. Davom etish uchun "
        "qaytadan kiring.",
        "Ваш сеанс завершён администратором. Чтобы продолжить, войдите "
        "снова.",
        "Your session was ended by an administrator. Sign in again to "
        "continue." },
      { NULL, NULL, NULL }, NULL },

    /*
     * oneid_require: signed in, but not allowed here.  What is needed, in
     * general terms, never the rules themselves; the session goes on.
     */
    { NGX_HTTP_FORBIDDEN, "access_denied", 0,
      { "Elektron imzo bilan kirish talab qilinadi",
        "Требуется вход с электронной подписью",
        "Sign-in with an electronic signature required" },
      { "Bu sahifa uchun OneID\xe2\x80\x99" "ga elektron imzo kaliti "
        "(E-IMZO) bilan kirish kerak. Tizimdan chiqing va elektron "
        "kalitingiz bilan qaytadan kiring.",
        "Для этой страницы нужен вход в OneID с ключом электронной "
        "подписи (E-IMZO). Выйдите из системы и войдите снова с вашим "
        "электронным ключом.",
        "This page needs sign-in to OneID with an electronic signature "
        "key (E-IMZO). Sign out, then sign in again with your electronic "
        "key." },
      { NULL, NULL, NULL }, "auth_method" },

    { NGX_HTTP_FORBIDDEN, "access_denied", 0,
      { "Yuridik shaxs hisobi talab qilinadi",
        "Требуется учётная запись юридического лица",
        "Legal entity account required" },
      { "Bu sahifa faqat yuridik shaxs hisobi uchun. Tizimdan chiqing va "
        "tashkilotingiz nomidan elektron kalit bilan qaytadan kiring.",
        "Эта страница доступна только учётной записи юридического лица. "
        "Выйдите из системы и войдите снова от имени вашей организации "
        "с электронным ключом.",
        "This page is for legal entity accounts only. Sign out, then sign "
        "in again on behalf of your organisation with its electronic "
        "key." },
      { NULL, NULL, NULL }, "user_type" },

    { NGX_HTTP_FORBIDDEN, "access_denied", 0,
      { "Jismoniy shaxs hisobi talab qilinadi",
        "Требуется учётная запись физического лица",
        "Personal account required" },
      { "Bu sahifa faqat jismoniy shaxs hisobi uchun. Tizimdan chiqing va "
        "shaxsiy hisobingiz bilan qaytadan kiring.",
        "Эта страница доступна только учётной записи физического лица. "
        "Выйдите из системы и войдите снова со своей личной учётной "
        "записью.",
        "This page is for personal accounts only. Sign out, then sign in "
        "again with your personal account." },
      { NULL, NULL, NULL }, "user_type" },

    { NGX_HTTP_FORBIDDEN, "access_denied", 0,
      { "Kirish taqiqlangan",
        "Доступ запрещён",
        "Access denied" },
      { "Hisobingizga bu sahifaga kirishga ruxsat berilmagan. Ruxsat "
        "kerak bo\xe2\x80\x98lsa, administratorga murojaat qiling.",
        "Вашей учётной записи не разрешён доступ к этой странице. Если "
        "он вам нужен, обратитесь к администратору.",
        "Your account is not allowed to open this page. If you need "
        "access, ask your administrator." },
      { NULL, NULL, NULL }, "account" }
};


const char  *ngx_http_oneid_lang_tag[NGX_HTTP_ONEID_NLANGS] = {
    "uz", "ru", "en"
};

/*
 * The help link (oneid_page_help_url, shown without its scheme) and the
 * organisation (oneid_page_organization) are put in, HTML-escaped, by
 * ngx_slprintf(): "%V" is the href, the link text, the organisation.
 */

const char  *ngx_http_oneid_help[NGX_HTTP_ONEID_NLANGS] = {
    "OneID\xe2\x80\x99" "da ro\xe2\x80\x98yxatdan o\xe2\x80\x98tish yoki "
    "parolni tiklash: <a href=\"%V\">%V</a>.",
    "Регистрация в OneID и восстановление пароля: "
    "<a href=\"%V\">%V</a>.",
    "To register with OneID or to recover your password, go to "
    "<a href=\"%V\">%V</a>."
};

const char  *ngx_http_oneid_warning[NGX_HTTP_ONEID_NLANGS] = {
    "OneID login, parol va SMS kodlaringizni hech kimga, jumladan %V "
    "xodimlariga ham bermang.",
    "Никому не сообщайте логин, пароль и SMS-коды OneID, даже "
    "сотрудникам %V.",
    "Never share your OneID login, password or SMS codes with anyone, "
    "%V staff included."
};

const char  *ngx_http_oneid_home[NGX_HTTP_ONEID_NLANGS] = {
    "Bosh sahifaga qaytish",
    "Вернуться на главную",
    "Back to the home page"
};
