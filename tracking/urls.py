"""Public tracking pages (short links, landing pages, pixel, clicks, unsubscribe, images) and the
staff short-link list, mounted at the site root."""

from django.urls import URLPattern, URLResolver, path, re_path

from tracking import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("content/links/", views.short_link_list_view, name="web-short-link-list"),
    path("t/o/<str:token>", views.open_pixel_view, name="tracking-open"),
    path("t/c/<str:token>", views.click_view, name="tracking-click"),
    path("u/<str:token>", views.unsubscribe_view, name="unsubscribe"),
    path("uploads/<str:folder>/<str:name>", views.upload_view, name="upload"),
    # Short codes start with a digit, so they never shadow the site's own paths.
    re_path(r"^(?P<code>[0-9][0-9A-Za-z]{7})$", views.short_link_view, name="short-link"),
]
