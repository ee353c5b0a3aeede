import { useState } from 'react';
import { NavLink, Route, Routes, useLocation } from 'react-router';
import { useSession } from './session';
import { SignIn } from './pages/SignIn';
import { Overview } from './pages/Overview';
import { UpstreamList, UpstreamPage } from './pages/Upstreams';
import { RouteList, RoutePage } from './pages/RoutesPage';
import { ConsumerList, ConsumerPage } from './pages/Consumers';
import { CertificateList, CertificatePage } from './pages/Certificates';
import { Audit } from './pages/Audit';
import { Revisions } from './pages/Revisions';
import { Users } from './pages/Users';

export function App() {
  const { me, signOut, isAdmin } = useSession();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  if (!me) return <SignIn />;
  const links: Array<[string, string]> = [
    ['/', 'Overview'],
    ['/upstreams', 'Upstreams'],
    ['/routes', 'Routes'],
    ['/consumers', 'Consumers'],
    ['/certificates', 'Certificates'],
    ['/audit', 'Audit'],
    ['/revisions', 'Revisions'],
    ...(isAdmin ? ([['/users', 'Users']] as Array<[string, string]>) : []),
  ];
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Switchboard</span>
        <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <nav id="nav" aria-label="Main" className={menuOpen ? 'open' : ''}>
          {links.map(([to, label]) => (
            <NavLink key={to} to={to} end={to === '/'} onClick={() => setMenuOpen(false)}>
              {label}
            </NavLink>
          ))}
        </nav>
        <span className="who">
          {me.email} <span className="badge">{me.role}</span>
        </span>
        <button type="button" onClick={() => signOut('You signed out.')}>
          Sign out
        </button>
      </header>
      <main id="main" key={location.pathname.split('/')[1]}>
        <Routes>
          <Route path="/" element={<Overview />} />
          <Route path="/upstreams" element={<UpstreamList />} />
          <Route path="/upstreams/:ref" element={<UpstreamPage />} />
          <Route path="/routes" element={<RouteList />} />
          <Route path="/routes/:ref" element={<RoutePage />} />
          <Route path="/consumers" element={<ConsumerList />} />
          <Route path="/consumers/:ref" element={<ConsumerPage />} />
          <Route path="/certificates" element={<CertificateList />} />
          <Route path="/certificates/:ref" element={<CertificatePage />} />
          <Route path="/audit" element={<Audit />} />
          <Route path="/revisions" element={<Revisions />} />
          <Route path="/users" element={isAdmin ? <Users /> : <p>Only admins manage users.</p>} />
          <Route path="*" element={<h1>No such page</h1>} />
        </Routes>
      </main>
    </div>
  );
}
