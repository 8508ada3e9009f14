//! Mounting routes so that what is mounted is also written down.
//!
//! Every module's `routes` fn takes an [`Api`] instead of actix's
//! `ServiceConfig`: [`Api::service`] mounts a [`Resource`] and records each
//! method it answers, and [`Api::describe`] adds the module's part of the
//! OpenAPI document. The same fns run without a `ServiceConfig` to list the
//! routes and build the document ([`RouteTable`]), so the list the contract
//! test compares with the document is the one the server mounted, not a copy.

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder};

/// One mounted operation: a method on a path pattern (`/v1/shops/{id}`).
pub type Operation = (Method, &'static str);

/// What the routes fns recorded: every operation and the document parts.
#[derive(Default)]
pub struct RouteTable {
    /// Each mounted (method, path), in mounting order.
    pub operations: Vec<Operation>,
    /// The modules' OpenAPI parts, merged.
    pub document: utoipa::openapi::OpenApi,
}

/// A `web::resource` that remembers which methods it was given.
pub struct Resource {
    path: &'static str,
    inner: actix_web::Resource,
    methods: Vec<Method>,
}

/// A resource at `path`; add its methods with `.get(..)`, `.post(..)`, ….
pub fn resource(path: &'static str) -> Resource {
    Resource {
        path,
        inner: web::resource(path),
        methods: Vec::new(),
    }
}

macro_rules! method {
    ($name:ident, $method:expr) => {
        #[doc = concat!("Answers `", stringify!($name), "` with `handler`.")]
        pub fn $name<F, Args>(mut self, handler: F) -> Self
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            self.methods.push($method);
            self.inner = self.inner.$name(handler);
            self
        }
    };
}

impl Resource {
    method!(get, Method::GET);
    method!(post, Method::POST);
    method!(put, Method::PUT);
    method!(patch, Method::PATCH);
    method!(delete, Method::DELETE);

    /// Data for this resource's handlers only (e.g. a body limit).
    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.inner = self.inner.app_data(data);
        self
    }
}

/// Where routes fns mount (when serving) and record (always).
pub struct Api<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    table: &'a mut RouteTable,
}

impl<'a> Api<'a> {
    /// Mounts on `cfg`, recording into `table`.
    pub fn mounting(cfg: &'a mut web::ServiceConfig, table: &'a mut RouteTable) -> Self {
        Self {
            cfg: Some(cfg),
            table,
        }
    }

    /// Only records into `table`: for listing the routes and building the document.
    pub fn recording(table: &'a mut RouteTable) -> Self {
        Self { cfg: None, table }
    }

    /// Mounts `resource` and records its methods.
    pub fn service(&mut self, resource: Resource) -> &mut Self {
        for method in &resource.methods {
            self.table.operations.push((method.clone(), resource.path));
        }
        if let Some(cfg) = self.cfg.as_deref_mut() {
            cfg.service(resource.inner);
        }
        self
    }

    /// Adds a module's part of the OpenAPI document.
    pub fn describe(&mut self, part: utoipa::openapi::OpenApi) -> &mut Self {
        self.table.document.merge(part);
        self
    }

    /// Runs another routes fn on this same `Api`.
    pub fn configure(&mut self, routes: fn(&mut Api<'_>)) -> &mut Self {
        routes(self);
        self
    }
}
