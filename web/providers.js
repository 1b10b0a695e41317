// What the app knows about each kind of credential: its label, default host, whether its
// tokens have a published format (the worker recognises them: vault_core/token_formats.py,
// docs/tokens.md; the page never parses a secret) and the scopes a build usually needs; and its mark, drawn here as
// simple original SVG shapes (no vendor logo is copied or fetched).

export const PROVIDERS = {
  github: {
    label: "GitHub",
    host: "https://github.com",
    placeholder: "https://github.com",
    recognised: true,
    token: "A fine-grained token starts with github_pat_, a classic one with ghp_.",
    username: "Your GitHub username. Git accepts any non-empty name with a token.",
    scopes: ["repo", "read:packages"],
    scopeHint: "Fine-grained: Contents read (write to push) and Metadata read. Classic: repo.",
  },
  "github-enterprise": {
    label: "GitHub Enterprise",
    host: "",
    placeholder: "https://github.example.com",
    recognised: true,
    token: "A fine-grained token starts with github_pat_, a classic one with ghp_.",
    username: "Your username on that GitHub Enterprise server.",
    scopes: ["repo", "read:packages"],
    scopeHint: "Fine-grained: Contents read (write to push) and Metadata read. Classic: repo.",
  },
  gitlab: {
    label: "GitLab",
    host: "https://gitlab.com",
    placeholder: "https://gitlab.com",
    recognised: true,
    token: "Personal, project and group access tokens start with glpat-, deploy tokens with gldt-.",
    username: "Your GitLab username, or the deploy token's username.",
    scopes: ["read_repository", "write_repository", "read_registry"],
    scopeHint: "read_repository to clone, write_repository to push, read_registry for images.",
  },
  bitbucket: {
    label: "Bitbucket",
    host: "https://bitbucket.org",
    placeholder: "https://bitbucket.org",
    recognised: false,
    token: "An app password, or an Atlassian API token (starts with ATATT).",
    username: "Your Bitbucket username (not your email) for an app password.",
    scopes: ["repository", "repository:write"],
    scopeHint: "Repositories: Read to clone, Write to push.",
  },
  git: {
    label: "Git server",
    host: "",
    placeholder: "https://git.example.com",
    recognised: false,
    token: "The password or token your Git server accepts over HTTPS.",
    username: "The username your Git server expects.",
    scopes: [],
    scopeHint: "",
  },
  "ssh-key": {
    label: "SSH key",
    host: "",
    placeholder: "github.com",
    recognised: false,
    urlHint: "The hosts this key is for, separated by spaces (github.com gitlab.com); empty for a signing key.",
    token: "",
    username: "The SSH user on those hosts: git for GitHub, GitLab and Bitbucket.",
    scopes: ["confirm"],
    scopeHint: "confirm: zkvault's SSH agent asks before each use of the key (like ssh-add -c).",
  },
  generic: {
    label: "Other secret",
    host: "",
    placeholder: "https://api.example.com (optional)",
    recognised: false,
    token: "Any secret a build needs: an API key, a registry or deploy token.",
    username: "Optional.",
    scopes: [],
    scopeHint: "",
  },
};

// Where each provider takes a deploy key (read-only access to one repository) and, as
// an alternative, where an account's own SSH keys go, by the ssh-key item's host. The
// deploy-key page is per repository, so the link is the provider's guide to it; `where`
// says the way there. Nothing is fetched: these are links the person follows.
export const DEPLOY_KEYS = {
  "github.com": {
    label: "GitHub",
    guide: "https://docs.github.com/en/authentication/connecting-to-github-with-ssh/managing-deploy-keys#deploy-keys",
    where: "the repository's Settings → Deploy keys → Add deploy key",
    account: "https://github.com/settings/ssh/new",
  },
  "gitlab.com": {
    label: "GitLab",
    guide: "https://docs.gitlab.com/user/project/deploy_keys/",
    where: "the project's Settings → Repository → Deploy keys",
    account: "https://gitlab.com/-/user_settings/ssh_keys",
  },
  "bitbucket.org": {
    label: "Bitbucket",
    guide: "https://support.atlassian.com/bitbucket-cloud/docs/add-access-keys/",
    where: "the repository's Repository settings → Access keys",
    account: "https://bitbucket.org/account/settings/ssh-keys/",
  },
};

// The deploy-key pages for an ssh-key item's hosts (its url: host names separated by
// spaces), each provider once; hosts of no known provider give none.
export function deployPages(url) {
  const seen = new Set();
  const out = [];
  for (const host of (url || "").toLowerCase().split(/\s+/)) {
    const page = DEPLOY_KEYS[host];
    if (page && !seen.has(page.label)) {
      seen.add(page.label);
      out.push(page);
    }
  }
  return out;
}

export function provider(kind) {
  return PROVIDERS[kind] || PROVIDERS.generic;
}

// Host (and port) shown for an item; the kind's default host when it has no URL.
export function hostOf(item) {
  const raw = item.url || provider(item.kind).host;
  if (!raw) return "";
  if (item.kind === "ssh-key") return raw; // host names separated by spaces, not a URL
  try {
    const u = new URL(raw.includes("://") ? raw : `https://${raw}`);
    return u.host + (u.pathname.length > 1 ? u.pathname.replace(/\/$/, "") : "");
  } catch {
    return raw;
  }
}

const SVG = "http://www.w3.org/2000/svg";

function shape(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// Each mark: a rounded tile in the provider's colour (set in app.css by class) with a
// simple glyph. Original shapes: a branch for GitHub, a branch with a dot for
// Enterprise, a chevron-and-diamond for GitLab, a pail for Bitbucket, commits on a
// line for Git, a key for anything else.
const GLYPHS = {
  github: [
    ["circle", { cx: 9, cy: 7, r: 2 }],
    ["circle", { cx: 9, cy: 17, r: 2 }],
    ["circle", { cx: 16, cy: 9, r: 2 }],
    ["path", { d: "M9 9v6M16 11c0 3-7 2-7 4" }],
  ],
  "github-enterprise": [
    ["circle", { cx: 9, cy: 7, r: 2 }],
    ["circle", { cx: 9, cy: 17, r: 2 }],
    ["path", { d: "M9 9v6M15 6h3v3h-3zM14 13h5v5h-5z" }],
  ],
  gitlab: [["path", { d: "M5 10l3-5 2 5h4l2-5 3 5-7 9z" }]],
  bitbucket: [["path", { d: "M5 7h14l-2 11H7zM9 12h6" }]],
  git: [
    ["path", { d: "M4 12h16" }],
    ["circle", { cx: 7, cy: 12, r: 2.2 }],
    ["circle", { cx: 12, cy: 12, r: 2.2 }],
    ["circle", { cx: 17, cy: 12, r: 2.2 }],
  ],
  "ssh-key": [
    ["path", { d: "M5 8l3 3-3 3M10 15h4" }],
    ["circle", { cx: 17.5, cy: 8.5, r: 2 }],
  ],
  generic: [
    ["circle", { cx: 9, cy: 12, r: 3.5 }],
    ["path", { d: "M12.5 12H20M17 12v3M19.5 12v2" }],
  ],
};

export function mark(kind) {
  const known = GLYPHS[kind] ? kind : "generic";
  const svg = shape("svg", { viewBox: "0 0 24 24", class: `mark mark-${known}`, "aria-hidden": "true", focusable: "false" });
  svg.append(shape("rect", { x: 0, y: 0, width: 24, height: 24, rx: 6, class: "tile" }));
  const glyph = shape("g", { class: "glyph" });
  for (const [tag, attrs] of GLYPHS[known]) glyph.append(shape(tag, attrs));
  svg.append(glyph);
  return svg;
}
