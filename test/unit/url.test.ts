import { describe, expect, it } from "vitest";
import { domainParts, registeredDomainParts, urlParts } from "../../shared/ecs/url.js";

// Expected values are what Elasticsearch's uri_parts processor (UriPartsProcessor.java: java.net.URI,
// then java.net.URL) and registered_domain processor (RegisteredDomainProcessor.java) give; the URLs
// are shaped like the SharePoint/OneDrive ObjectId, DLP FilePathUrl and Defender URL fields of
// Microsoft's Management Activity API schema, values invented.
const SHAREPOINT = { registered_domain: "sharepoint.com", subdomain: "contoso", top_level_domain: "com" };

describe("urlParts, as uri_parts", () => {
  it.each([
    // A space: java.net.URI refuses it, java.net.URL takes the path as written.
    [
      "https://contoso.sharepoint.com/sites/Finance/Shared Documents/Q3 Forecast.v2.XLSX",
      { scheme: "https", domain: "contoso.sharepoint.com", path: "/sites/Finance/Shared Documents/Q3 Forecast.v2.XLSX", extension: "XLSX", ...SHAREPOINT },
    ],
    // No space: java.net.URI decodes every escape, reserved ones included, in path and query.
    [
      "https://contoso-my.sharepoint.com/personal/priya_shah_contoso_com/Documents/Payroll%20%26%20Bonus.docx?web=1",
      { scheme: "https", domain: "contoso-my.sharepoint.com", path: "/personal/priya_shah_contoso_com/Documents/Payroll & Bonus.docx", extension: "docx", query: "web=1", ...SHAREPOINT, subdomain: "contoso-my" },
    ],
    // A space and an escape: java.net.URL does not decode.
    ["https://contoso.sharepoint.com/sites/Team/Shared Documents/%E2%82%AC.txt", { scheme: "https", domain: "contoso.sharepoint.com", path: "/sites/Team/Shared Documents/%E2%82%AC.txt", extension: "txt", ...SHAREPOINT }],
    // A "%" that starts no escape: java.net.URL, raw.
    ["https://contoso.sharepoint.com/sites/Team/Shared Documents/100% done.docx", { scheme: "https", domain: "contoso.sharepoint.com", path: "/sites/Team/Shared Documents/100% done.docx", extension: "docx", ...SHAREPOINT }],
    ["https://contoso.sharepoint.com/a%zz.txt", { scheme: "https", domain: "contoso.sharepoint.com", path: "/a%zz.txt", extension: "txt", ...SHAREPOINT }],
    // An empty path is written; the extension comes from the last segment only, "" after a final dot.
    ["https://contoso.sharepoint.com", { scheme: "https", domain: "contoso.sharepoint.com", path: "", ...SHAREPOINT }],
    ["https://contoso.sharepoint.com/sites/x/file.", { scheme: "https", domain: "contoso.sharepoint.com", path: "/sites/x/file.", extension: "", ...SHAREPOINT }],
    ["https://contoso.sharepoint.com/v1.2/readme", { scheme: "https", domain: "contoso.sharepoint.com", path: "/v1.2/readme", ...SHAREPOINT }],
    ["https://contoso.sharepoint.com/a.b/", { scheme: "https", domain: "contoso.sharepoint.com", path: "/a.b/", ...SHAREPOINT }],
    ["https://contoso.sharepoint.com/.htaccess", { scheme: "https", domain: "contoso.sharepoint.com", path: "/.htaccess", extension: "htaccess", ...SHAREPOINT }],
    // Query and fragment never feed the extension.
    ["https://contoso.sharepoint.com/file.tar.gz#x.y", { scheme: "https", domain: "contoso.sharepoint.com", path: "/file.tar.gz", extension: "gz", fragment: "x.y", ...SHAREPOINT }],
    ["https://contoso.sharepoint.com/invoice.pdf.html?id=7", { scheme: "https", domain: "contoso.sharepoint.com", path: "/invoice.pdf.html", extension: "html", query: "id=7", ...SHAREPOINT }],
    // No case folding by java.net.URI; java.net.URL lower-cases only the scheme. The registered
    // domain is lower-cased, the subdomain looked up in the domain as written (none here).
    ["HTTPS://Example.COM/A.PDF", { scheme: "HTTPS", domain: "Example.COM", path: "/A.PDF", extension: "PDF", registered_domain: "example.com", top_level_domain: "com" }],
    ["HTTPS://Contoso.SharePoint.com/Shared Documents/A.PDF", { scheme: "https", domain: "Contoso.SharePoint.com", path: "/Shared Documents/A.PDF", extension: "PDF", registered_domain: "sharepoint.com", top_level_domain: "com" }],
    // An IPv6 host keeps its brackets and case; an explicit port is kept, default or not, in range or not.
    ["https://[2001:DB8::A]:8443/a.b/readme", { scheme: "https", domain: "[2001:DB8::A]", port: 8443, path: "/a.b/readme" }],
    ["https://contoso.sharepoint.com:443/a.txt", { scheme: "https", domain: "contoso.sharepoint.com", port: 443, path: "/a.txt", extension: "txt", ...SHAREPOINT }],
    ["https://contoso.sharepoint.com:99999/x", { scheme: "https", domain: "contoso.sharepoint.com", port: 99999, path: "/x", ...SHAREPOINT }],
    [
      "https://alice:s3cret@files.contoso.com:8080/share/notes.txt?v=2#top",
      {
        scheme: "https",
        domain: "files.contoso.com",
        port: 8080,
        path: "/share/notes.txt",
        extension: "txt",
        query: "v=2",
        fragment: "top",
        user_info: "alice:s3cret",
        username: "alice",
        password: "s3cret",
        registered_domain: "contoso.com",
        subdomain: "files",
        top_level_domain: "com",
      },
    ],
    ["https://alice@files.contoso.com/a", { scheme: "https", domain: "files.contoso.com", path: "/a", user_info: "alice", registered_domain: "contoso.com", subdomain: "files", top_level_domain: "com" }],
    // Dot segments are kept.
    ["https://contoso.sharepoint.com/a/../b.txt", { scheme: "https", domain: "contoso.sharepoint.com", path: "/a/../b.txt", extension: "txt", ...SHAREPOINT }],
    // java.net.URI takes these hosts as a registry name: no domain.
    ["https://my_host.example.com/a.txt", { scheme: "https", path: "/a.txt", extension: "txt" }],
    ["https://例え.jp/x.txt", { scheme: "https", path: "/x.txt", extension: "txt" }],
    // A relative reference is a URI; one with a space or a backslash is neither URI nor URL.
    ["sites/Team/Plan.xlsx", { path: "sites/Team/Plan.xlsx", extension: "xlsx" }],
    ["/sites/Team/Shared Documents/Plan.xlsx", undefined],
    ["C:\\Users\\alice\\report.docx", undefined],
    // Opaque: a scheme and nothing else.
    ["mailto:alice@contoso.com", { scheme: "mailto" }],
    // From UriPartsProcessorTests.java.
    ["http://www.google.com", { scheme: "http", domain: "www.google.com", path: "", registered_domain: "google.com", subdomain: "www", top_level_domain: "com" }],
    ["ldap://[2001:db8::7]/c=GB?objectClass?one", { scheme: "ldap", domain: "[2001:db8::7]", path: "/c=GB", query: "objectClass?one" }],
    // A Defender URL-click URL (TIUrlClickData.URL).
    [
      "https://login.contoso-verify.com/Reset%20Password/verify.PHP?u=megan#step2",
      { scheme: "https", domain: "login.contoso-verify.com", path: "/Reset Password/verify.PHP", extension: "PHP", query: "u=megan", fragment: "step2", registered_domain: "contoso-verify.com", subdomain: "login", top_level_domain: "com" },
    ],
    // java.net.URL trims what surrounds the text, and (JDK 20 and later) refuses a host with a space.
    ["  https://contoso.sharepoint.com/Shared Documents/a.txt \n", { scheme: "https", domain: "contoso.sharepoint.com", path: "/Shared Documents/a.txt", extension: "txt", ...SHAREPOINT }],
    ["https://contoso sharepoint.com/Shared Documents/a.txt", undefined],
    // An encoded surrogate is one U+FFFD for Java's UTF-8 decoder.
    ["https://contoso.sharepoint.com/%ED%A0%80.txt", { scheme: "https", domain: "contoso.sharepoint.com", path: "/\ufffd.txt", extension: "txt", ...SHAREPOINT }],
  ])("%j", (original, expected) => {
    expect(urlParts(original)).toEqual(expected);
  });

  it("never writes a null or undefined value", () => {
    for (const original of ["https://h.contoso.com", "mailto:x@y", "a/b.c", "https://[::1]:1/x y?z#w", "http:?x y", "file:///srv/a b.txt"]) {
      for (const value of Object.values(urlParts(original) ?? {})) expect(value === null || value === undefined).toBe(false);
    }
  });
});

describe("registeredDomainParts, as the registered_domain processor", () => {
  it.each([
    ["contoso.sharepoint.com", SHAREPOINT],
    ["a.b.co.uk", { registered_domain: "b.co.uk", subdomain: "a", top_level_domain: "co.uk" }],
    // The private part of the public suffix list counts.
    ["foo.blob.core.windows.net", { registered_domain: "foo.blob.core.windows.net", top_level_domain: "blob.core.windows.net" }],
    // A public suffix itself: only its top-level domain.
    ["blob.core.windows.net", { top_level_domain: "blob.core.windows.net" }],
    // Nothing for a single label, a suffix the list does not know, an IP or an odd name.
    ["localhost", {}],
    ["intranet.example", {}],
    ["10.1.2.3", {}],
    ["[2001:db8::1]", {}],
    ["example.com.", {}],
  ])("%s", (host, expected) => {
    expect(registeredDomainParts(host)).toEqual(expected);
  });

  it("leaves the message-trace feed's domain parts as they were (ICANN suffixes only)", () => {
    expect(domainParts("foo.blob.core.windows.net")).toEqual({ registered_domain: "windows.net", subdomain: "foo.blob.core", top_level_domain: "net" });
  });
});
