//! What crawlers read: `robots.txt` and `sitemap.xml` (every public shop and
//! product page, up to the 50,000 URLs one sitemap may list).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::render::{absolute, PageError, PageResult};
use crate::catalog::{self, CatalogQuery, PageRequest};
use crate::db::{self, DbPool};

/// URLs one sitemap file may hold (sitemaps.org).
const SITEMAP_URLS_MAX: usize = 50_000;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/robots.txt").get(robots))
        .service(web::resource("/sitemap.xml").get(sitemap));
}

async fn robots(req: HttpRequest) -> HttpResponse {
    let body = format!(
        "# Personal pages are kept out; the catalog is open.\n\
         User-agent: *\n\
         Disallow: /account\n\
         Disallow: /cart\n\
         Disallow: /checkout\n\
         Disallow: /forgot-password\n\
         Disallow: /orders\n\
         Disallow: /reset-password\n\
         Disallow: /signin\n\
         Disallow: /signup\n\
         Disallow: /v1/\n\
         Disallow: /verify-email\n\
         Sitemap: {}\n",
        absolute(&req, "/sitemap.xml")
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn sitemap(req: HttpRequest, pool: web::Data<DbPool>) -> PageResult {
    let paths = db::run(&pool, |conn| {
        let mut paths = vec!["/".to_owned(), "/search".to_owned()];
        for shop in crate::sellers::public_shops(conn)? {
            paths.push(format!("/shops/{}", shop.id));
        }
        let mut after = None;
        while paths.len() < SITEMAP_URLS_MAX {
            let query = CatalogQuery::everything(PageRequest {
                limit: catalog::listing::PAGE_LIMIT_MAX,
                after: after.take(),
            });
            let page = catalog::list_catalog(conn, &query)?;
            for product in &page.products {
                paths.push(format!("/products/{}", product.id));
            }
            match page.next_cursor {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        paths.truncate(SITEMAP_URLS_MAX);
        Ok(paths)
    })
    .await
    .map_err(PageError)?;
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for path in paths {
        body.push_str("<url><loc>");
        body.push_str(&escape_xml(&absolute(&req, &path)));
        body.push_str("</loc></url>\n");
    }
    body.push_str("</urlset>\n");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .content_type("application/xml; charset=utf-8")
        .body(body))
}
