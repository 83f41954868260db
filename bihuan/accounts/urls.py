from django.urls import path

from bihuan.accounts import views, views_otp, views_sessions

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("login/code/", views_otp.login_code, name="login_code"),
    path("account/two-factor/", views_otp.second_factor, name="second_factor"),
    path(
        "account/two-factor/remove/",
        views_otp.second_factor_disable,
        name="second_factor_disable",
    ),
    path("account/sessions/", views_sessions.my_sessions, name="my_sessions"),
    path("sessions/", views_sessions.sessions_all, name="sessions"),
    path("sessions/<int:pk>/end/", views_sessions.session_end, name="session_end"),
    path("password/", views.password_change, name="password_change"),
    path("users/", views.users, name="users"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/<int:pk>/", views.user_detail, name="user"),
    path("users/<int:pk>/active/", views.user_set_active, name="user_set_active"),
    path("users/<int:pk>/password/", views.user_reset_password, name="user_reset_password"),
    path("users/<int:pk>/unlock/", views.user_unlock, name="user_unlock"),
    path(
        "users/<int:pk>/two-factor/reset/",
        views_otp.user_second_factor_reset,
        name="user_second_factor_reset",
    ),
    path(
        "users/<int:pk>/sessions/end/",
        views_sessions.user_sessions_end,
        name="user_sessions_end",
    ),
    path("users/<int:pk>/assignments/", views.assignment_grant, name="assignment_grant"),
    path("assignments/<int:pk>/end/", views.assignment_end, name="assignment_end"),
    path("departments/", views.departments, name="departments"),
    path("departments/save/", views.department_save, name="department_save"),
    path("departments/<int:pk>/", views.department_detail, name="department"),
]
