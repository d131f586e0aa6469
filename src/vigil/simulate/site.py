"""A simulated web application with a known structure, for learning and testing site profiles.

The site is a shop of two halves, as many real ones are: a server-rendered part (``.jsp`` pages
with Spanish form fields: product ids, names, prices, quantities, logins, registration forms
with national ids, postcodes, card numbers and addresses written in Latin-1) and a JSON API
with ids, UUIDs, dates, coordinates, search text and e-mail addresses; plus a blog of slugs,
hashed static assets, product images, downloads with tokens, tracking parameters on any page,
dead links answered 404 and conditional requests answered 304. It has 40 endpoints.

The structure (catalogue, slugs, asset hashes) comes from `site_seed`; each day's traffic
(clients, what they ask, in which order) from its own seed, so one day can be learned and
another tested. Only normal traffic is made here: anomalies are made apart from it
(`vigil.simulate.mutations`), so no generator knows what the scorer checks.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

from vigil.simulate.scenarios import ScenarioRequest, browser_agents

__all__ = ["ENDPOINTS", "SiteDay", "site_day"]

_NOMBRES = (
    "María", "José", "Antonio", "Carmen", "Lucía", "Javier", "Ángel", "Sofía", "Martín",
    "Nuria", "Raúl", "Inés", "Pedro", "Elena", "Jesús", "Marta", "Óscar", "Rocío", "Iñaki",
    "Begoña", "Andrés", "Alba", "Sergio", "Noelia",
)  # fmt: skip
_APELLIDOS = (
    "García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín",
    "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso",
    "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Ibáñez",
)  # fmt: skip
_CIUDADES = (
    ("Madrid", "Madrid"), ("Barcelona", "Barcelona"), ("Valencia", "Valencia"),
    ("Sevilla", "Sevilla"), ("Zaragoza", "Zaragoza"), ("Málaga", "Málaga"),
    ("Murcia", "Murcia"), ("Palma", "Baleares"), ("Bilbao", "Vizcaya"), ("Alicante", "Alicante"),
    ("Córdoba", "Córdoba"), ("Valladolid", "Valladolid"), ("Vigo", "Pontevedra"),
    ("Gijón", "Asturias"), ("A Coruña", "A Coruña"), ("Granada", "Granada"),
)  # fmt: skip
_CALLES = (
    "Calle Mayor", "Avenida de la Constitución", "Plaza de España", "Calle del Sol",
    "Paseo de Gracia", "Calle Real", "Camino Viejo", "Ronda de Toledo", "Calle Alcalá",
    "Avenida Diagonal", "Calle San Fernando", "Travesía del Carmen",
)  # fmt: skip
_PRODUCTOS = (
    "Jamón Ibérico", "Queso Manchego", "Aceite de Oliva Virgen", "Vino Rioja Reserva",
    "Turrón de Jijona", "Azafrán de La Mancha", "Chorizo de León", "Miel de Romero",
    "Pimentón de la Vera", "Sobrasada Mallorquina", "Vinagre de Jerez", "Cava Brut",
    "Mantecados", "Horchata", "Anchoas del Cantábrico", "Membrillo",
)  # fmt: skip
_SEARCHES = (
    "jamón", "queso curado", "vino tinto", "aceite 5 litros", "regalo navidad",
    "cesta gourmet", "turrón blando", "ofertas", "sin gluten", "vino blanco albariño",
    "miel", "lote ibéricos", "o'neill", "100% natural", "precio < 20", "tinto & blanco",
    "¿envío gratis?", "sal (escamas)", "café molido", "té verde",
)  # fmt: skip
_DOMAINS = ("gmail.com", "hotmail.com", "yahoo.es", "telefonica.net", "outlook.es", "uv.es")
_CATEGORIAS = ("embutidos", "quesos", "vinos", "aceites", "dulces", "conservas", "especias")
_ORDENES = ("precio", "nombre", "novedad", "valoracion")
_STATES = ("pending", "paid", "shipped", "delivered", "cancelled")
_COUNTRIES = ("ES", "PT", "FR", "DE", "IT")
_HELP = ("envios", "devoluciones", "pagos", "privacidad", "contacto", "faq", "garantia", "cookies")
_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"

ENDPOINTS = 40
"""How many endpoints (method and path template) the site has."""


def _latin(text: str) -> str:
    """A form value as the shop's pages send it: Latin-1, form-encoded."""
    return quote_plus(text, encoding="latin-1", errors="replace")


class _Site:
    """The fixed structure of the site (same `site_seed`, same site)."""

    def __init__(self, site_seed: int) -> None:
        rng = random.Random(site_seed)
        self.products = list(range(1, 120))
        self.images = [f"{rng.choice(('prod', 'logo', 'banner', 'foto'))}_{i}" for i in range(30)]
        self.slugs = [
            "-".join(
                rng.sample(
                    (
                        "receta",
                        "maridaje",
                        "guia",
                        "historia",
                        "temporada",
                        "vino",
                        "queso",
                        "jamon",
                        "cata",
                        "origen",
                        "productores",
                        "navidad",
                    ),
                    3,
                )
            )
            + f"-{i}"
            for i in range(90)
        ]
        self.assets = [f"{rng.getrandbits(40):010x}" for _ in range(4)]


class SiteDay:
    """One seeded day of the site's normal traffic."""

    def __init__(self, site_seed: int, day_seed: int, start: datetime) -> None:
        self.site = _Site(site_seed)
        self.rng = random.Random(day_seed)
        self.start = start
        rng = self.rng
        agents = browser_agents(60, rng)
        self.browsers = [(self._ip(), rng.choice(agents)) for _ in range(2000)]
        self.apps = [
            (
                self._ip(),
                rng.choice(("ShopApp/3.1 (Android 14)", "ShopApp/3.1 (iOS 17.4)", "okhttp/4.12.0")),
            )
            for _ in range(200)
        ]
        self.builders: list[Callable[[], tuple[str, str, str, int]]] = []
        for builder, weight in (
            (self._jsp_page, 26), (self._jsp_form, 14), (self._assets, 24), (self._api, 16),
            (self._blog, 6), (self._account, 3), (self._misc, 6), (self._dead, 3),
        ):  # fmt: skip
            self.builders.extend([builder] * weight)

    def _ip(self) -> str:
        rng = self.rng
        first = rng.choice((31, 37, 46, 62, 77, 79, 80, 81, 83, 84, 85, 88, 90, 95, 176, 188, 213))
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    # -- value makers --------------------------------------------------------------------

    def _nombre(self) -> str:
        return self.rng.choice(_NOMBRES)

    def _apellidos(self) -> str:
        return f"{self.rng.choice(_APELLIDOS)} {self.rng.choice(_APELLIDOS)}"

    def _login(self) -> str:
        rng = self.rng
        base = rng.choice(_NOMBRES).lower().encode("ascii", "ignore").decode()
        return f"{base}{rng.choice(('', '_', '.'))}{rng.randrange(1, 999)}"

    def _password(self) -> str:
        rng = self.rng
        alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8, 15)))

    def _email(self) -> str:
        rng = self.rng
        user = self._login().replace("_", ".")
        return f"{user}@{rng.choice(_DOMAINS)}"

    def _dni(self) -> str:
        number = self.rng.randrange(10_000_000, 99_999_999)
        return f"{number}{_LETTERS[number % 23]}"

    def _direccion(self) -> str:
        rng = self.rng
        extra = rng.choice(("", f", {rng.randrange(1, 9)}º {rng.choice('ABCD')}", " bajo"))
        return f"{rng.choice(_CALLES)} {rng.randrange(1, 200)}{extra}"

    def _card(self) -> str:
        return "".join(str(self.rng.randrange(10)) for _ in range(16))

    def _date(self) -> str:
        day = self.start.date() - timedelta(days=self.rng.randrange(0, 400))
        return day.isoformat()

    def _uuid(self) -> str:
        bits = f"{self.rng.getrandbits(128):032x}"
        return f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-a{bits[17:20]}-{bits[20:]}"

    # -- request makers: (method, target, referer, status) --------------------------------

    def _jsp_page(self) -> tuple[str, str, str, int]:
        rng = self.rng
        site = self.site
        roll = rng.random()
        if roll < 0.18:
            return "GET", "/tienda/index.jsp", "-", 200
        if roll < 0.36:
            return (
                "GET",
                f"/tienda/publico/caracteristicas.jsp?id={rng.choice(site.products)}",
                "-",
                200,
            )
        if roll < 0.5:
            query = (
                f"categoria={rng.choice(_CATEGORIAS)}&pagina={rng.randrange(1, 12)}"
                f"&orden={rng.choice(_ORDENES)}"
            )
            return "GET", f"/tienda/publico/productos.jsp?{query}", "-", 200
        if roll < 0.6:
            return (
                "GET",
                f"/tienda/publico/buscar.jsp?texto={_latin(rng.choice(_SEARCHES))}",
                "-",
                200,
            )
        if roll < 0.68:
            return "GET", "/tienda/publico/carrito.jsp", "-", 200
        if roll < 0.76:
            return (
                "GET",
                rng.choice(("/tienda/global/menum.jsp", "/tienda/global/titulo.jsp")),
                "-",
                200,
            )
        if roll < 0.82:
            return "GET", "/tienda/publico/entrar.jsp?errorMsg=Credenciales+incorrectas", "-", 200
        if roll < 0.88:
            return (
                "GET",
                rng.choice(("/tienda/miembros/index.jsp", "/tienda/miembros/fotos.jsp")),
                "-",
                200,
            )
        if roll < 0.92:
            return "GET", "/tienda/miembros/salir.jsp", "-", 302
        if roll < 0.96:
            return "GET", "/tienda/publico/vaciar.jsp?B2=Vaciar+carrito", "-", 200
        return "GET", "/tienda/publico/registro.jsp", "-", 200

    def _jsp_form(self) -> tuple[str, str, str, int]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            nombre = rng.choice(_PRODUCTOS)
            query = (
                f"id={rng.choice(self.site.products)}&nombre={_latin(nombre)}"
                f"&precio={rng.randrange(3, 250)}&cantidad={rng.randrange(1, 6)}"
                f"&B1={_latin('Añadir al carrito')}"
            )
            return "GET", f"/tienda/publico/anadir.jsp?{query}", "-", 200
        if roll < 0.65:
            query = (
                f"modo=entrar&login={self._login()}&pwd={self._password()}"
                f"&remember={rng.choice(('on', 'off'))}&B1=Entrar"
            )
            return "GET", f"/tienda/publico/autenticar.jsp?{query}", "-", rng.choice((200, 302))
        if roll < 0.75:
            query = f"modo=insertar&precio={rng.randrange(3, 900)}&B1=Confirmar"
            return "GET", f"/tienda/publico/pagar.jsp?{query}", "-", 200
        ciudad, provincia = rng.choice(_CIUDADES)
        fields = (
            f"nombre={_latin(self._nombre())}&apellidos={_latin(self._apellidos())}"
            f"&email={quote(self._email())}&dni={self._dni()}"
            f"&direccion={_latin(self._direccion())}&ciudad={_latin(ciudad)}"
            f"&cp={rng.randrange(1000, 52999):05d}&provincia={_latin(provincia)}"
            f"&ntc={self._card()}"
        )
        if roll < 0.88:
            query = (
                f"modo=registro&login={self._login()}&password={self._password()}&{fields}"
                "&B1=Registrar"
            )
            return "GET", f"/tienda/publico/registro.jsp?{query}", "-", 200
        return (
            "GET",
            f"/tienda/miembros/editar.jsp?modo=actualizar&{fields}&B1=Actualizar",
            "-",
            200,
        )

    def _assets(self) -> tuple[str, str, str, int]:
        rng = self.rng
        site = self.site
        status = 304 if rng.random() < 0.2 else 200
        roll = rng.random()
        if roll < 0.35:
            ext = "gif" if rng.random() < 0.5 else "jpg"
            return "GET", f"/tienda/imagenes/{rng.choice(site.images)}.{ext}", "-", status
        if roll < 0.45:
            return "GET", "/tienda/estilos.css", "-", status
        if roll < 0.6:
            return "GET", f"/static/js/app.{rng.choice(site.assets)}.js", "-", status
        if roll < 0.7:
            return "GET", f"/static/css/main.{rng.choice(site.assets)}.css", "-", status
        size = rng.choice((200, 400, 800))
        return "GET", f"/images/products/{rng.choice(site.products)}-{size}.webp", "-", status

    def _api(self) -> tuple[str, str, str, int]:
        rng = self.rng
        site = self.site
        roll = rng.random()
        product = rng.choice(site.products)
        if roll < 0.2:
            query = (
                f"category={rng.choice(_CATEGORIAS)}&limit={rng.choice((10, 20, 50))}"
                f"&offset={rng.randrange(0, 200, 10)}"
                f"&sort={rng.choice(('price', '-price', 'name'))}"
            )
            return "GET", f"/api/v1/products?{query}", "-", 200
        if roll < 0.35:
            return "GET", f"/api/v1/products/{product}", "-", 200
        if roll < 0.42:
            return "GET", f"/api/v1/products/{product}/reviews?page={rng.randrange(1, 6)}", "-", 200
        if roll < 0.52:
            return "POST", "/api/v1/cart", "-", 201
        if roll < 0.58:
            return "PUT", f"/api/v1/cart/items/{product}", "-", 200
        if roll < 0.62:
            return "DELETE", f"/api/v1/cart/items/{product}", "-", 204
        if roll < 0.7:
            return "GET", f"/api/v2/orders/{self._uuid()}", "-", 200
        if roll < 0.8:
            query = f"q={quote_plus(rng.choice(_SEARCHES))}&lang={rng.choice(('es', 'en'))}"
            return "GET", f"/api/v1/search?{query}", "-", 200
        if roll < 0.86:
            lat = 36 + rng.random() * 7
            lon = -9 + rng.random() * 12
            query = f"lat={lat:.4f}&lon={lon:.4f}&radius={rng.choice((5, 10, 25, 50))}"
            return "GET", f"/api/v1/stores?{query}", "-", 200
        if roll < 0.93:
            sku = f"{rng.choice(('JI', 'QM', 'VR', 'AO'))}-{rng.randrange(1000, 9999)}"
            return "GET", f"/api/v1/availability?sku={sku}&date={self._date()}", "-", 200
        return "POST", f"/api/v1/newsletter?email={quote(self._email())}", "-", 201

    def _blog(self) -> tuple[str, str, str, int]:
        rng = self.rng
        if rng.random() < 0.15:
            return "GET", "/blog/feed.xml", "-", 200
        return "GET", f"/blog/{rng.choice(self.site.slugs)}", "-", rng.choice((200, 200, 304))

    def _account(self) -> tuple[str, str, str, int]:
        rng = self.rng
        query = f"from={self._date()}&to={self._date()}&status={rng.choice(_STATES)}"
        return "GET", f"/account/orders?{query}", "-", 200

    def _misc(self) -> tuple[str, str, str, int]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return "GET", "/healthz", "-", 200
        if roll < 0.5:
            query = (
                f"url={quote('https://tienda.example.es/tienda/index.jsp', safe='')}"
                f"&cid={self._uuid()}&ts={1_710_000_000 + rng.randrange(10**6)}"
            )
            return "GET", f"/track/click?{query}", "-", 302
        if roll < 0.65:
            query = f"order={rng.randrange(100000, 999999)}&token={rng.getrandbits(128):032x}"
            return "GET", f"/download/invoice.pdf?{query}", "-", 200
        if roll < 0.85:
            return "GET", f"/help/{rng.choice(_HELP)}.html", "-", 200
        query = f"zip={rng.randrange(1000, 52999):05d}&country={rng.choice(_COUNTRIES)}"
        return "GET", f"/checkout/shipping?{query}", "-", 200

    def _dead(self) -> tuple[str, str, str, int]:
        path = self.rng.choice(
            ("/favicon.ico", "/apple-touch-icon.png", "/tienda/viejo/index.jsp", "/ads.txt",
             "/blog/2019/rebajas-verano", "/tienda/imagenes/banner_old.gif")
        )  # fmt: skip
        return "GET", path, "-", 404

    # -- the day --------------------------------------------------------------------------

    def request(self, at: datetime) -> ScenarioRequest:
        """One normal request at `at`."""
        rng = self.rng
        builder = rng.choice(self.builders)
        method, target, referer, status = builder()
        if builder == self._api and rng.random() < 0.7:
            ip, agent = self.apps[int(len(self.apps) * rng.random() ** 2)]
        else:
            ip, agent = self.browsers[int(len(self.browsers) * rng.random() ** 2)]
        path, _, query = target.partition("?")
        if builder in (self._jsp_page, self._blog) and rng.random() < 0.04:
            tracking = (
                f"utm_source={rng.choice(('newsletter', 'facebook', 'google'))}"
                f"&utm_medium={rng.choice(('email', 'cpc', 'social'))}&utm_campaign=otono_2024"
            )
            query = f"{query}&{tracking}" if query else tracking
        size = 0 if status in (204, 302, 304) else rng.randrange(300, 60_000)
        return ScenarioRequest(
            at=at,
            client_ip=ip,
            method=method,
            path=path,
            status=status,
            bytes_sent=size,
            user_agent=agent,
            referer=referer,
            query=query,
        )


def site_day(
    n: int,
    *,
    site_seed: int = 1,
    day_seed: int,
    start: datetime = datetime(2024, 10, 1, tzinfo=UTC),
) -> list[ScenarioRequest]:
    """`n` normal requests spread over one day from `start`."""
    day = SiteDay(site_seed, day_seed, start)
    step = 86_400 / max(n, 1)
    return [day.request(start + timedelta(seconds=int(i * step))) for i in range(n)]
