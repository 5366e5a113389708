/* Console sign-in with the company's OpenID Connect provider (docs/authentication.md).
 *
 * The authorization-code flow with PKCE, silent renewal and sign-out are oidc-client-ts's (vendored,
 * pinned with integrity in vendor.lock.json); this file only wires it to the console: the access token
 * goes where console.js reads the bearer token (sessionStorage, this tab only), so every call through
 * the proxy carries the person's own token and the services' audit trail records the person.
 * /console/auth-config says which provider and client to use, and whether pasting a token is allowed
 * (local and test runs only). Everything is written with textContent.
 */
"use strict";

(function () {
  const TOKEN_KEY = "c360.console.token";
  const RETURN = "/console/signin";
  let manager = null;

  function store(user) {
    if (user && user.access_token) sessionStorage.setItem(TOKEN_KEY, user.access_token);
    showWho(user);
  }

  function showWho(user) {
    const who = document.getElementById("who");
    if (!who) return;
    const profile = (user && user.profile) || {};
    const name = profile.name || profile.preferred_username || profile.sub || "";
    who.textContent = name ? "Signed in as " + name : "";
  }

  const ready = fetch("/console/auth-config", { headers: { Accept: "application/json" } })
    .then((answer) => (answer.ok ? answer.json() : { issuer: "", token_paste: true }))
    .catch(() => ({ issuer: "", token_paste: true }))
    .then(async (config) => {
      if (config.issuer && window.oidc) {
        manager = new window.oidc.UserManager({
          authority: config.issuer,
          client_id: config.client_id,
          redirect_uri: location.origin + RETURN,
          post_logout_redirect_uri: location.origin + RETURN,
          response_type: "code",
          scope: "openid profile email groups offline_access",
          automaticSilentRenew: true,
          userStore: new window.oidc.WebStorageStateStore({ store: window.sessionStorage }),
        });
        // Silent renewal (the refresh token) hands over a new access token before the old one expires.
        manager.events.addUserLoaded(store);
        manager.events.addUserUnloaded(() => { sessionStorage.removeItem(TOKEN_KEY); showWho(null); });
        manager.events.addSilentRenewError(() => {
          sessionStorage.removeItem(TOKEN_KEY);
          showWho(null);
        });
        const user = await manager.getUser();
        if (user && !user.expired) store(user);
      }
      return config;
    });

  async function signinPage(root, kit) {
    const { h, setStatus } = kit;
    const config = await ready;
    const params = new URLSearchParams(location.search);
    if (manager && params.has("code") && params.has("state")) {
      try {
        store(await manager.signinRedirectCallback());
        history.replaceState({}, "", RETURN);
        kit.signedIn();
      } catch (error) {
        history.replaceState({}, "", RETURN);
        setStatus("Sign-in failed: " + String((error && error.message) || error), true);
      }
      return;
    }
    root.append(h("h1", {}, "Sign in"));
    if (manager) {
      root.append(h("section", { class: "signin" },
        h("p", {}, "Sign in with your company account."),
        h("button", { type: "button", class: "primary", id: "sso", onclick: () => {
          manager.signinRedirect().catch((error) => setStatus("Sign-in failed: " + String(error && error.message), true));
        } }, "Sign in with " + new URL(config.issuer).host)));
    }
    if (config.token_paste) root.append(kit.pasteForm());
    else if (!manager) root.append(h("p", {}, "No identity provider is configured; ask an administrator."));
  }

  async function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    showWho(null);
    if (!manager) return false;
    const user = await manager.getUser();
    await manager.removeUser();
    if (!user) return false;
    await manager.signoutRedirect({ id_token_hint: user.id_token });
    return true;
  }

  window.C360Auth = Object.freeze({ ready, signinPage, signOut });
})();
