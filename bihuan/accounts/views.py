"""Pages of accounts: sign-in, home, users and assignments, departments."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts import forms, otp, services, sessions
from bihuan.accounts.home import panels_for
from bihuan.accounts.models import Assignment, Role, SessionEnd
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.selectors import assignments_of, departments_visible_to, users_visible_to
from bihuan.core.crypto import phone_query_hash
from bihuan.core.errors import ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.core.forms import flash_form_errors
from bihuan.core.text import normalize_query
from bihuan.territory.models import Area, Sentinel
from bihuan.territory.selectors import regions_visible_to

USER_SORTS = {
    "username": "username",
    "name": "display_name",
    "-last_login": "-last_login",
    "last_login": "last_login",
}


def _require(request: HttpRequest, capability: Capability) -> None:
    # A page the user may not use at all does not exist for them.
    if not can(request.user, capability):
        raise Http404


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Sign in, with lockout after repeated failures."""
    if request.user.is_authenticated:
        return redirect("accounts:home")
    form = forms.LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.login_attempt(
            username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if result.user is not None:
            target = request.POST.get("next") or request.GET.get("next") or ""
            if not url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                target = ""
            if result.second_factor:
                # Not signed in yet: views_otp.login_code asks for the code first.
                otp.pending_start(request, result.user, target)
                return redirect("accounts:login_code")
            login(request, result.user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(target or "accounts:home")
        form.add_error(None, result.error)
    return render(
        request, "accounts/login.html", {"form": form, "next": request.GET.get("next", "")}
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Sign out and end the session on the server."""
    services.logout_record(user=request.user, reason="user")
    sessions.session_close(request, SessionEnd.SIGNED_OUT)
    logout(request)
    return redirect("accounts:login")


@login_required
@sensitive_post_parameters("old_password", "password", "password_again")
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Replace one's own password (forced after an initial or reset password)."""
    form = forms.PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_change_own_password(
                user=request.user,  # type: ignore[arg-type]
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["password"],
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            update_session_auth_hash(request, request.user)  # type: ignore[arg-type]
            messages.success(request, _("Your password was changed."))
            return redirect("accounts:home")
    return render(
        request,
        "accounts/password_change.html",
        {
            "form": form,
            "reason": services.password_change_reason(request.user),  # type: ignore[arg-type]
            "max_age_days": settings.PASSWORD_MAX_AGE_DAYS,
            "history_count": settings.PASSWORD_HISTORY_COUNT,
        },
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's next work, by role."""
    user = request.user
    return render(
        request,
        "accounts/home.html",
        {"panels": panels_for(user), "assignments": assignments_of(user)},  # type: ignore[arg-type]
    )


@login_required
def users(request: HttpRequest) -> HttpResponse:
    """Accounts the user may see, searchable."""
    _require(request, Capability.USER_READ)
    sort = request.GET.get("sort", "username")
    if sort not in USER_SORTS:
        sort = "username"
    rows = users_visible_to(request.user).order_by(USER_SORTS[sort], "pk")
    query = normalize_query(request.GET.get("q", ""))
    if query:
        matches = Q(username__icontains=query) | Q(display_name__icontains=query)
        phone = phone_query_hash(query)
        if phone is not None:
            # Phones are encrypted: only the whole number is found, through its keyed hash.
            matches |= Q(phone_hash=phone)
        rows = rows.filter(matches)
    show_phone = can(request.user, Capability.USER_MANAGE)
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "users.xlsx",
            [_("Username"), _("Full name"), _("Phone"), _("Active"), _("Last sign-in")],
            (
                (
                    u.username,
                    u.display_name,
                    u.phone if show_phone else u.masked_phone,
                    u.is_active,
                    u.last_login,
                )
                for u in rows
            ),
        )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/users.html",
        {
            "page": page,
            "q": query,
            "sort": sort,
            "can_create": can(request.user, Capability.USER_MANAGE),
        },
    )


@login_required
@sensitive_post_parameters("phone", "password")
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    """A system administrator opens an account."""
    _require(request, Capability.USER_MANAGE)
    form = forms.UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Account %(u)s created.") % {"u": user.username})
            return redirect("accounts:user", pk=user.pk)
    return render(request, "accounts/user_create.html", {"form": form})


@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One account with its roles; administrators act on it here."""
    _require(request, Capability.USER_READ)
    person = get_object_or_404(users_visible_to(request.user), pk=pk)
    grant_form = forms.AssignmentForm()
    grant_form.fields["department"].queryset = departments_visible_to(request.user)  # type: ignore[attr-defined]
    return render(
        request,
        "accounts/user_detail.html",
        {
            "person": person,
            "assignments": assignments_of(person),
            "can_manage": can(request.user, Capability.USER_MANAGE),
            "can_assign": can(request.user, Capability.ASSIGNMENT_MANAGE),
            "can_unlock": can(request.user, Capability.ACCOUNT_UNLOCK),
            "has_second_factor": otp.has_second_factor(person),
            "can_end_sessions": can(request.user, Capability.SESSION_MANAGE),
            "grant_form": grant_form,
            "reset_form": forms.PasswordResetForm(),
            "show_phone": can(request.user, Capability.USER_MANAGE),
        },
    )


@login_required
@require_POST
def user_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.USER_MANAGE)
    person = get_object_or_404(users_visible_to(request.user), pk=pk)
    try:
        services.user_set_active(
            actor=request.user, user=person, active=request.POST.get("active") == "1"
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("accounts:user", pk=pk)


@login_required
@sensitive_post_parameters("password")
@require_POST
def user_reset_password(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.USER_MANAGE)
    person = get_object_or_404(users_visible_to(request.user), pk=pk)
    form = forms.PasswordResetForm(request.POST)
    if form.is_valid():
        try:
            services.user_reset_password(
                actor=request.user, user=person, password=form.cleaned_data["password"]
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("The password was reset; it must be changed at next login.")
            )
    else:
        messages.error(request, _("Enter a new initial password."))
    return redirect("accounts:user", pk=pk)


@login_required
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.ACCOUNT_UNLOCK)
    person = get_object_or_404(users_visible_to(request.user), pk=pk)
    services.account_unlock(actor=request.user, user=person)
    messages.success(request, _("The account was unlocked."))
    return redirect("accounts:user", pk=pk)


@login_required
@require_POST
def assignment_grant(request: HttpRequest, pk: int) -> HttpResponse:
    """A security administrator gives a role in a place."""
    _require(request, Capability.ASSIGNMENT_MANAGE)
    person = get_object_or_404(users_visible_to(request.user), pk=pk)
    form = forms.AssignmentForm(request.POST)
    form.fields["department"].queryset = departments_visible_to(request.user)  # type: ignore[attr-defined]
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("accounts:user", pk=pk)
    data = form.cleaned_data
    region = regions_visible_to(request.user).filter(code=data["region_code"]).first()
    if region is None:
        messages.error(request, _("No region has code %(c)s.") % {"c": data["region_code"]})
        return redirect("accounts:user", pk=pk)
    sentinel = (
        Sentinel.objects.filter(pk=data["sentinel_id"]).first() if data["sentinel_id"] else None
    )
    area = Area.objects.filter(pk=data["area_id"]).first() if data["area_id"] else None
    try:
        services.assignment_grant(
            actor=request.user,
            user=person,
            role=data["role"],
            region=region,
            department=data["department"],
            sentinel=sentinel,
            area=area,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Role granted."))
    return redirect("accounts:user", pk=pk)


@login_required
@require_POST
def assignment_end(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.ASSIGNMENT_MANAGE)
    assignment = get_object_or_404(
        Assignment.objects.filter(user__in=users_visible_to(request.user)), pk=pk
    )
    services.assignment_end(actor=request.user, assignment=assignment)
    messages.success(request, _("Role ended."))
    return redirect("accounts:user", pk=assignment.user_id)


@login_required
def departments(request: HttpRequest) -> HttpResponse:
    """Linked departments covering the user's place."""
    _require(request, Capability.TERRITORY_READ)
    rows = departments_visible_to(request.user).filter(is_active=True)
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "departments.xlsx",
            [_("Name"), _("Short name"), _("Kind"), _("Jurisdiction")],
            ((d.name, d.short_name, d.get_kind_display(), d.jurisdiction.name) for d in rows),
        )
    return render(
        request,
        "accounts/departments.html",
        {
            "departments": rows,
            "can_manage": can(request.user, Capability.DEPARTMENT_MANAGE),
            "form": forms.DepartmentForm(),
        },
    )


@login_required
@require_POST
def department_save(request: HttpRequest) -> HttpResponse:
    """A system administrator adds a department (or renames the one of that kind and place)."""
    _require(request, Capability.DEPARTMENT_MANAGE)
    form = forms.DepartmentForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("accounts:departments")
    data = form.cleaned_data
    region = regions_visible_to(request.user).filter(code=data["jurisdiction_code"]).first()
    if region is None:
        messages.error(request, _("No region has code %(c)s.") % {"c": data["jurisdiction_code"]})
        return redirect("accounts:departments")
    try:
        department = services.department_upsert(
            actor=request.user,
            kind=data["kind"],
            name=data["name"],
            short_name=data["short_name"],
            jurisdiction=region,
        )[0]
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:departments")
    messages.success(request, _("Department saved."))
    return redirect("accounts:department", pk=department.pk)


@login_required
def department_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.TERRITORY_READ)
    department = get_object_or_404(departments_visible_to(request.user), pk=pk)
    officers = users_visible_to(request.user).filter(
        assignments__department=department,
        assignments__role=Role.OFFICER,
        assignments__is_active=True,
    )
    return render(
        request,
        "accounts/department_detail.html",
        {"department": department, "officers": officers.distinct()},
    )
